"""Attaching: the HELLO and DESCRIBEs that tell the bridge what a device has, asked for until all arrived.

:class:`Attach` holds what one boot of a device has described and decides which QUERY to send and when
(PROTOCOL.md, QUERY). It reads no clock and sends nothing (it logs): the link manager gives it every HELLO,
DESCRIBE and other frame with the time, asks :meth:`Attach.query_due` at :meth:`Attach.next_at`, and sends
what it says.

On a noisy line a long frame seldom arrives whole (at 1 % corrupted + 1 % lost bytes, a 90-byte HELLO
about one time in six), so nothing here waits for a whole answer:

* until a HELLO arrives the bridge asks with a bare QUERY ``[h]`` (HELLO and every DESCRIBE), two at once
  after an answer that came without its HELLO; the DESCRIBEs that arrive meanwhile are kept and count for
  the HELLO that comes (within ``early_s``);
* once the HELLO is known it asks for exactly the topic ids still missing, each twice, ``[h, 3, 3, 7, 7]``;
* an answer that is over (its last asked DESCRIBE, or any other frame after a frame of it, arrived) and
  left something missing is followed by the next QUERY at once: the device's own pace, never faster;
* an answer of which nothing arrived is asked for again after ``retry_s`` while the device is heard from
  (PUBs, PONGs), the wait doubling up to ``retry_max_s`` while it is silent (a dead or unplugged device is
  not flooded); every fourth such QUERY in a row is a bare one (a device that does not know topic ids in
  a QUERY answers those with ERROR 2);
* what arrived always counts (within one boot a DESCRIBE stays true); nothing is restarted because a frame
  was lost, and a HELLO of the same boot changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ether_lite import protocol
from ether_medium.bridge.counters import LinkCounters
from ether_medium.bridge.endpoints import DescribeError, Endpoint, endpoint_from_describe
from ether_medium.problems import ProblemLog

if TYPE_CHECKING:
    from ether_medium.bridge.identity import DeviceInfo

__all__ = ["Attach", "AttachTiming"]


@dataclass(slots=True)
class AttachTiming:
    retry_s: float = 0.1  # a QUERY of which no answer arrived is sent again after this long,
    retry_max_s: float = 1.0  # doubling up to this while still nothing arrives
    attach_s: float = 1.0  # after the HELLO: attach with what arrived by then (and keep asking for the rest)
    early_s: float = 5.0  # DESCRIBEs that came before their HELLO count for it if this recent


class Attach:
    """What one boot of a device described, and the QUERYs for what is still missing."""

    def __init__(
        self,
        name: str,
        renames: dict[str, str],
        *,
        log: logging.Logger | None = None,
        problems: ProblemLog | None = None,
        counters: LinkCounters | None = None,
        timing: AttachTiming | None = None,
    ) -> None:
        self.name = name  # the device's name in the config (for messages)
        self.renames = renames
        self.log = log or logging.getLogger("ether.bridge")
        self.problems = problems or ProblemLog(self.log, name)
        self.counters = counters or LinkCounters()
        self.timing = timing or AttachTiming()
        self.n: int | None = None  # endpoints the HELLO announced (None: no HELLO of this boot yet)
        self.described: dict[int, Endpoint | None] = {}  # topic id -> endpoint; None: DESCRIBE refused
        self.hello_at: float | None = None  # when the HELLO of this boot first arrived
        self._early: dict[int, tuple[float, list[Any]]] = {}  # DESCRIBEs before their HELLO
        self._refresh: set[int] = set()  # described topic ids to be asked for again (fields now known)
        self._hello_wanted = True  # ask with a bare QUERY (no HELLO yet, or it may be stale)
        self.asked: tuple[int, ...] | None = None  # the QUERY in flight (() bare); None: none
        self._sent_at = -1e9
        self._heard = False  # a frame of its answer arrived
        self._fruitless = 0  # QUERYs in a row of whose answers nothing arrived
        self._next_at: float | None = None  # when to send the next QUERY
        self._retry_s = self.timing.retry_s
        self._asked_again_at = -1e9
        self.copies = 1  # how many times to send the QUERY that query_due returned
        self.queries = 0  # QUERYs asked for (for figures and tests)

    # ------------------------------------------------------------------ what is known
    def missing(self) -> list[int]:
        """Topic ids of this boot whose DESCRIBE has not arrived (or is asked for again), ascending."""
        if self.n is None:
            return []
        return [t for t in range(self.n) if t not in self.described or t in self._refresh]

    @property
    def complete(self) -> bool:
        return self.n is not None and not self._hello_wanted and not self.missing()

    def attach_by(self) -> float:
        """When to attach with what arrived, if not all has (``attach_s`` after this boot's first HELLO)."""
        return float("inf") if self.hello_at is None else self.hello_at + self.timing.attach_s

    def endpoints(self) -> dict[int, Endpoint]:
        return {t: e for t, e in self.described.items() if e is not None}

    def summary(self) -> str:
        """The endpoints described, refused and missing, for the line that says the device attached."""
        eps = sorted(self.endpoints().values(), key=lambda e: e.topic_id)
        refused = sorted(t for t, e in self.described.items() if e is None)
        missing = self.missing()
        return (
            ("; ".join(e.signature() for e in eps) or "no topics")
            + (f"; refused topic ids {refused}" if refused else "")
            + (
                f"; the DESCRIBEs of topic ids {missing} have not arrived whole yet (asking for them on)"
                if missing
                else ""
            )
        )

    def log_attached(self, where: str, info: DeviceInfo | None) -> None:
        """Say that the device attached, with what it described (and which renames of the config it lacks)."""
        assert info is not None
        eps = self.endpoints()
        unknown = sorted(set(self.renames) - {e.name for e in eps.values()})
        if unknown:
            has = ", ".join(sorted(e.name for e in eps.values())) or "no topics"
            self.log.warning(
                "%s: devices.%s.topics renames %s, which the device does not have (it has %s)",
                self.name,
                self.name,
                ", ".join(unknown),
                has,
            )
        self.log.log(
            logging.WARNING if self.missing() else logging.INFO,
            "%s attached on %s: device id %r, firmware %r, boot id %d, protocol %d; %s",
            self.name,
            where,
            info.device_id,
            info.firmware,
            info.boot_id,
            info.protocol,
            self.summary(),
        )

    def log_redescribed(self, old: Endpoint | None, ep: Endpoint) -> bool:
        """Say what a DESCRIBE after attaching changed; True when it is a new topic (or changed one)."""
        if old is None and not self.missing():
            self.log.info("%s: every topic is described now", self.name)
        if old is None or old.topic != ep.topic or old.publishes != ep.publishes:
            self.log.info("%s: topic id %d is now %s", self.name, ep.topic_id, ep.signature())
            return True
        if old.fields != ep.fields or old.defaults != ep.defaults:
            self.log.info("%s: fields of %s now known: %s", self.name, ep.topic, ep.signature())
        return False

    # ------------------------------------------------------------------ what the device says
    def new_boot(self) -> None:
        """Another boot (or another device): nothing described before holds."""
        self.n = None
        self.described = {}
        self.hello_at = None
        self._refresh.clear()

    def want_hello(self, now: float) -> None:
        """Ask for the HELLO (bare QUERY) from ``now``: the link (re)opened, or the device may have reset."""
        self._hello_wanted = True
        self.asked = None
        self._heard = False
        self._retry_s = self.timing.retry_s
        self._next_at = now

    def hello(self, n: int, now: float) -> list[list[Any]]:
        """A HELLO of this boot (:meth:`new_boot` first if it is another) announcing ``n`` endpoints.
        Returns the DESCRIBEs that came before it and count for it, for the caller to hand to
        :meth:`describe` (they are checked there like any other)."""
        self._hello_wanted = False
        self._answer_frame()
        if self.hello_at is None:
            self.hello_at = now
        self.n = n
        if self._next_at is None:  # asking was stopped (the device spoke another version until now)
            self._next_at = now + self._retry_s
        self.described = {t: e for t, e in self.described.items() if t < n}
        early, self._early = self._early, {}
        return [msg for t, (at, msg) in sorted(early.items()) if now - at <= self.timing.early_s and t < n]

    def forget_early(self) -> None:
        """Another sender (a datagram link): the DESCRIBEs kept for a HELLO were not its."""
        self._early.clear()

    def early(self, tid: int, msg: list[Any], now: float) -> None:
        """A DESCRIBE before its HELLO: kept for it."""
        self._early[tid] = (now, msg)
        self._answer_frame()

    def describe(self, msg: list[Any], now: float, *, early: bool = False) -> Endpoint | None:
        """A DESCRIBE after the HELLO (``early``: one that came before it, handed back by :meth:`hello`):
        the endpoint it makes (recorded), or None when it is refused (see :meth:`refuse`)."""
        assert self.n is not None
        tid = msg[1]
        if not early:
            self._answer_frame()
        self._refresh.discard(tid)
        try:
            ep = endpoint_from_describe(msg, self.renames, self.n)
            for other_id, other in self.described.items():
                clash = other is not None and (other.topic == ep.topic or other.name == ep.name)
                if clash and other_id != tid:
                    raise DescribeError(
                        f"topic id {tid} {ep.name!r} has the same name as topic id {other_id}; "
                        f"give one of the methods its own topic= on the device, or rename one in "
                        f"devices.{self.name}.topics"
                    )
        except DescribeError as exc:
            self.refuse(tid, str(exc), now, early=early)
            return None
        self.described[tid] = ep
        if not early:
            self._answered_if_last(tid, now)
        return ep

    def refuse(self, tid: int, why: str, now: float, *, early: bool = False, known: bool = True) -> None:
        """The DESCRIBE of ``tid`` is not valid (here, or by ``protocol.check``): counted, reported, and, when
        it is ``known`` to be of this boot, recorded as refused so that it is not asked for again (the
        device would send the same)."""
        self.counters.describe_errors += 1
        self.problems.report(f"describe {tid}", f"DESCRIBE of topic id {tid} refused: {why}", logging.ERROR)
        if not known:
            return
        self._refresh.discard(tid)
        if self.n is not None and tid < self.n:
            self.described[tid] = None
        if not early:
            self._answered_if_last(tid, now)

    def other_frame(self, now: float) -> None:
        """A frame that is no part of an answer (PUB, PONG, ACK, ...) while a QUERY is in flight: an answer
        it follows is over; and the device is alive, so its answer is asked for again without backing off."""
        self._alive()
        if self._heard and self.asked is not None:
            self._answered(now)

    def ask_again(self, tid: int, now: float) -> None:
        """A PUB came on topic id ``tid``, which is not known to publish: ask for its DESCRIBE (for a topic
        id beyond what the HELLO said, for the HELLO: the device may have reset). At most once a second
        for what was not missing already (PROTOCOL.md section 5)."""
        if self._hello_wanted or (self.n is not None and tid < self.n and tid not in self.described):
            return  # being asked for already
        if now - self._asked_again_at < 1.0:
            return
        self._asked_again_at = now
        if self.n is None or tid >= self.n:
            self.want_hello(now)
            return
        self._refresh.add(tid)
        self._next_at = now

    # ------------------------------------------------------------------ what to send
    def next_at(self) -> float | None:
        """When :meth:`query_due` has a QUERY to send (None: nothing to ask). Called at every step of the
        bridge's loop: once nothing is missing it answers from one attribute."""
        at = self._next_at
        if at is None or self._hello_wanted or self.missing():
            return at
        self._next_at = None  # all described: nothing to ask until something is wanted again
        return None

    def query_due(self, now: float) -> list[int] | None:
        """The topic ids to QUERY for now (``[]``: a bare QUERY), or None; records it as sent.

        Every fourth QUERY in a row that brought nothing is a bare one: a device whose ether_lite predates
        QUERYs with topic ids answers those with ERROR 2, and a bare one with everything."""
        at = self.next_at()
        if at is None or now < at:
            return None
        self._fruitless = 0 if self._heard or self.asked is None else self._fruitless + 1
        ids = [] if self._hello_wanted or self._fruitless % 4 == 3 else self.missing()
        # Each DESCRIBE asked for comes twice (topic ids may repeat), two chances for each; and after an
        # answer that came without its HELLO (its first and longest frame), two bare QUERYs go at once.
        ids = [t for t in ids for _ in range(2)] if len(ids) <= protocol.MAX_ENDPOINTS // 2 else ids
        self.copies = 2 if self._hello_wanted and self._heard else 1
        if ids:
            self.problems.report(
                "describe",
                f"DESCRIBEs of topic ids {ids} (of {self.n}) have not arrived whole; asking for them",
                logging.INFO,
            )
        self.asked = tuple(ids)
        self._heard = False
        self._sent_at = now
        self._next_at = now + self._retry_s
        self._retry_s = min(self._retry_s * 2, self.timing.retry_max_s)  # until the device is heard from
        self.queries += 1
        return ids

    def stop(self) -> None:
        """Ask for nothing until :meth:`want_hello` (the link is closed, or the device is incompatible)."""
        self._next_at = None
        self.asked = None

    # ------------------------------------------------------------------ answers
    def _answer_frame(self) -> None:
        self._heard = True
        self._alive()

    def _alive(self) -> None:
        """A frame came from the device: it is there, so a lost answer is asked for again soon."""
        self._retry_s = self.timing.retry_s
        if self._next_at is not None:
            self._next_at = min(self._next_at, self._sent_at + self._retry_s)

    def _answered_if_last(self, tid: int, now: float) -> None:
        asked = self.asked
        last = (self.n - 1 if self.n else 0) if asked == () else (asked[-1] if asked else None)
        if tid == last:
            self._answered(now)

    def _answered(self, now: float) -> None:
        """The answer to the QUERY in flight is over: ask for what is still missing at once."""
        self.asked = None
        if self._hello_wanted or self.missing():
            self._next_at = now
