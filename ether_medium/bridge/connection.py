"""The connection to one device: opening the link with backoff, the lease, and the PINGs that keep time.

:class:`Connection` decides *when*: when to try opening the link again (50 ms doubling to 2 s, at once after
losing a board that was working), when a device has been silent past its lease, when to say that nothing
answers (with the likely reason), and when the next PING is due. It logs what it decides; the link manager
(:mod:`ether_medium.bridge.manager`) acts on it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ether_medium.bridge.clock import ClockSync
from ether_medium.bridge.counters import LinkCounters
from ether_medium.bridge.links import Link
from ether_medium.errors import LinkUnavailable

__all__ = ["Connection", "Timing"]


@dataclass(slots=True)
class Timing:
    ping_interval_s: float = 1.0
    lease_s: float = 3.5  # no frame for this long while attached: the link is considered lost
    answer_s: float = 3.0  # no answer to QUERY for this long after opening: say so
    backoff_min_s: float = 0.05
    backoff_max_s: float = 2.0
    incompatible_query_s: float = 5.0


class Connection:
    def __init__(
        self, name: str, link: Link, counters: LinkCounters, log: logging.Logger, timing: Timing
    ) -> None:
        self.name = name
        self.link = link
        self.counters = counters
        self.log = log
        self.timing = timing
        self.reopen_at = 0.0
        self.connected_at = 0.0
        self.last_rx = 0.0  # when the last valid frame arrived
        self.last_peer = ""  # where the link was connected (a datagram link: the last sender)
        self.hinted = False  # said that nothing answers
        self.ping_at: float | None = None
        self.pings: dict[int, float] = {}  # ping_id -> monotonic time sent
        self._ping_id = 0
        self._backoff = timing.backoff_min_s
        self._ever_open = False
        self._open_failures = 0
        self._last_open_error = ""

    # ------------------------------------------------------------------ opening
    def open(self, now: float) -> bool:
        """Open the link; on failure say why (not every time) and schedule the next try."""
        try:
            self.link.open()
        except LinkUnavailable as exc:
            self._open_failures += 1
            new = exc.reason != self._last_open_error
            if new or self._open_failures in (1, 10) or self._open_failures % 100 == 0:
                self.log.log(
                    logging.WARNING if self._open_failures == 1 or new else logging.INFO,
                    "%s: cannot open %s: %s (attempt %d; retrying every %.1f s at most)",
                    self.name,
                    self.link.url,
                    exc.reason,
                    self._open_failures,
                    self.timing.backoff_max_s,
                )
            self._last_open_error = exc.reason
            self.schedule_reopen(now)
            return False
        return True

    def opened(self, now: float) -> None:
        """The link is open (by :meth:`open` or by the caller)."""
        if self._ever_open:
            self.counters.reconnects += 1
        self._ever_open = True
        self._open_failures = 0
        self._last_open_error = ""
        self.log.info("%s: link open on %s", self.name, self.link.where)
        self.connected_at = self.last_rx = now
        self.hinted = False
        self.stop_pings()
        self.last_peer = self.link.where

    def schedule_reopen(self, now: float) -> None:
        self.link.close()
        self.reopen_at = now + self._backoff
        self._backoff = min(self._backoff * 2, self.timing.backoff_max_s)

    def working(self) -> None:
        """The device attached: should the link drop, it is tried again at once."""
        self._backoff = self.timing.backoff_min_s

    # ------------------------------------------------------------------ silence
    def lease_end(self) -> float:
        return self.last_rx + self.timing.lease_s

    def silence(self, now: float) -> str:
        return f"silent for {now - self.last_rx:.1f} s (lease {self.timing.lease_s:g} s)"

    def hint_at(self) -> float:
        """When to say that nothing answers (inf once said)."""
        return float("inf") if self.hinted else self.connected_at + self.timing.answer_s

    def hint(self, now: float) -> bool:
        """Say that nothing answered since the link opened; True when another port should be tried."""
        self.hinted = True
        if self.link.datagram and not self.link.can_send:
            self.log.info(
                "%s: nothing received yet on %s; waiting for the board to send", self.name, self.link.where
            )
            return False
        self.log.warning(
            "%s: no answer from %s for %.0f s: is ether_lite running on the board (code.py calls "
            "run()) and, for USB, the data channel enabled in boot.py?",
            self.name,
            self.link.where,
            now - self.connected_at,
        )
        return self.multi_port()

    def multi_port(self) -> bool:
        """The link scans several ports (``serial://auto``, a glob)."""
        pattern = getattr(self.link, "pattern", "")
        return pattern == "auto" or any(c in pattern for c in "*?[")

    # ------------------------------------------------------------------ PING
    def next_ping(self, now: float) -> int:
        """A new ping id, recorded as sent now; the next PING is due ``ping_interval_s`` later."""
        self._ping_id = (self._ping_id + 1) % (1 << 30)
        self.pings[self._ping_id] = now
        for pid in [p for p, t in self.pings.items() if now - t > self.timing.lease_s]:
            del self.pings[pid]
        self.counters.pings += 1
        self.ping_at = now + self.timing.ping_interval_s
        return self._ping_id

    def ping_soon(self, now: float) -> None:
        """The clock mapping is in doubt: PING now, unless one went out in the last 50 ms."""
        last = max(self.pings.values(), default=-1e9)
        if self.ping_at is not None and now - last >= 0.05:
            self.ping_at = min(self.ping_at, now)

    def pong(self, ping_id: int, ticks: int, now: float, clock: ClockSync) -> None:
        """A PONG: one sample for the clock (none for a PING not sent, or forgotten)."""
        sent = self.pings.pop(ping_id, None)
        if sent is None:
            return
        self.counters.pongs += 1
        jumps = clock.jumps
        clock.add_pong(sent, now, ticks)
        if clock.jumps != jumps:
            self.counters.clock_jumps += 1
            self.log.warning(
                "%s: the device clock jumped by %+.3f s against the host's (its ticks were reset, set, or "
                "stalled); time mapping re-synchronised from this PING",
                self.name,
                clock.last_jump_s,
            )
            if self.ping_at is not None:
                self.ping_at = now + 0.005  # refill the window quickly
        if clock.samples < clock.window // 2 and self.ping_at is not None:
            self.ping_at = now + 0.005  # fill the window quickly after attaching

    def stop_pings(self) -> None:
        self.ping_at = None
        self.pings.clear()
