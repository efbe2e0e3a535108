"""Host messages to a device subscriber: DELIVER until ACK, with retransmission (PROTOCOL.md, "DELIVER",
"ACK", "Acknowledgement and retransmission").

:class:`Deliveries` numbers the DELIVERs of one link (from a random msg_id, so a board that remembers the
msg_ids it acknowledged last never takes a new bridge session's messages for retransmissions), sends each
again with the same msg_id after 30 ms, 60, 120 (4 sends in all; the first timeout grows with the measured
round trip), and finishes every one exactly once: acknowledged, refused by the device with its reason, or
given up. After the last send it waits for the ACK until :data:`GIVE_UP_S` after the first send (not just the
240 ms the doubling gives): a board busy for half a second (a garbage collection, a slow sensor read, a
loaded lab PC running the bridge) acts on the DELIVER late but does act on it, and reporting that as failed
would be wrong. Every failure is counted and reported with the reason and who sent it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cbor2
from pydantic import ValidationError

from ether_lite import framing, protocol
from ether_medium.bridge.arrays import to_device_map
from ether_medium.bridge.counters import LinkCounters
from ether_medium.bridge.endpoints import Endpoint, format_validation
from ether_medium.problems import ProblemLog

__all__ = ["GIVE_UP_S", "Deliveries", "Delivery"]

# A DELIVER is reported failed no sooner than this after its first send (well within the 5 s a fabric caller
# waits for the outcome).
GIVE_UP_S = 2.0

_ACK_REASONS = {
    protocol.ACK_UNKNOWN_TOPIC: "the device does not know this topic",
    protocol.ACK_BAD_ARGUMENTS: "the device refused the arguments",
    protocol.ACK_HANDLER_RAISED: "the device's handler raised",
}


@dataclass(slots=True)
class Delivery:
    """One host message on its way to a device subscriber (DELIVER until ACK or give up)."""

    topic: str
    data: dict[str, Any]
    msg_id: int = 0
    frame: bytes = b""
    tries: int = 0
    first_sent: float = 0.0
    next_at: float = 0.0
    timeout: float = 0.0
    done: bool = False
    error: str | None = None  # None when delivered
    rtt: float | None = None  # first send to ACK, seconds
    origin: str | None = None  # who published it (for log lines)
    callback: Callable[[Delivery], None] | None = None


class Deliveries:
    """The DELIVERs in flight on one link. ``write`` sends a frame (and may raise ``LinkLost``)."""

    def __init__(self, counters: LinkCounters, problems: ProblemLog, write: Callable[[bytes], None]) -> None:
        self.counters = counters
        self.problems = problems
        self.write = write
        self.pending: dict[int, Delivery] = {}
        self._msg_id = random.SystemRandom().randrange(protocol.MAX_MSG_ID)  # immune to random.seed()

    def new_msg_id(self) -> int:
        for _ in range(protocol.MAX_MSG_ID):
            self._msg_id = self._msg_id % protocol.MAX_MSG_ID + 1
            if self._msg_id not in self.pending:
                return self._msg_id
        raise RuntimeError("65535 deliveries in flight")  # pragma: no cover

    def send(self, device: str, by_topic: dict[str, Endpoint], d: Delivery, rtt: float) -> Delivery:
        """Check ``d.data`` against the subscriber of ``d.topic`` among ``by_topic`` (the endpoints of the
        ``device``: its pydantic model; a missing field with a default gets it), encode the DELIVER and send
        it the first time. ``rtt``: the measured round trip."""
        ep = by_topic.get(d.topic)
        if ep is None or ep.publishes:
            subs = sorted(e.topic for e in by_topic.values() if not e.publishes)
            return self.fail(
                d, f"{d.topic!r} is not a subscriber of {device} (it has: {', '.join(subs) or 'none'})"
            )
        values: list[Any]
        if ep.fields is None:
            try:
                values = [to_device_map(d.data)]  # its arrays as typed arrays the board reads
            except ValueError as exc:
                return self.fail(d, f"data do not fit {ep.signature()}: {exc}")
        else:
            try:
                checked = ep.model.model_validate(d.data)
            except ValidationError as exc:
                return self.fail(d, f"data do not fit {ep.signature()}: {format_validation(exc)}")
            values = [getattr(checked, n) for n in ep.field_names]
        d.msg_id = self.new_msg_id()
        try:
            frame = framing.encode_frame(
                cbor2.dumps(protocol.deliver(ep.topic_id, d.msg_id, values), canonical=True)
            )
        except (ValueError, TypeError, cbor2.CBOREncodeError) as exc:
            return self.fail(d, f"cannot encode for the wire: {exc}")
        self.start(d, frame, rtt, time.monotonic())  # the first send is now (the round trip starts here)
        return d

    def start(self, d: Delivery, frame: bytes, rtt: float, now: float) -> None:
        """First send of ``d`` (``msg_id`` from :meth:`new_msg_id`, ``frame`` its encoded DELIVER)."""
        d.frame = frame
        d.timeout = max(protocol.DELIVER_TIMEOUT_MS / 1000.0, 3 * rtt)
        d.first_sent = now
        self.pending[d.msg_id] = d
        self._send(d, now)

    def _send(self, d: Delivery, now: float) -> None:
        if d.tries:
            self.counters.retransmissions += 1
        d.tries += 1
        d.next_at = now + d.timeout * (1 << (d.tries - 1))
        if d.tries >= protocol.DELIVER_TRIES:  # the last send: its ACK may still come from a busy board
            d.next_at = max(d.next_at, d.first_sent + GIVE_UP_S)
        self.write(d.frame)

    def next_at(self) -> float:
        return min((d.next_at for d in self.pending.values()), default=float("inf"))

    def on_timer(self, now: float) -> None:
        for d in list(self.pending.values()):
            if now >= d.next_at:
                if d.tries >= protocol.DELIVER_TRIES:
                    self.finish(
                        d, f"no ACK after {d.tries} tries over {now - d.first_sent:.3f} s (msg_id {d.msg_id})"
                    )
                else:
                    self._send(d, now)

    def on_ack(self, msg_id: int, status: int, text: str) -> Delivery | None:
        """Finish the delivery ``msg_id``; None when it is not in flight (a late duplicate ACK)."""
        d = self.pending.get(msg_id)
        if d is None:
            return None
        if status == protocol.ACK_OK:
            self.finish(d, None)
        else:
            reason = _ACK_REASONS.get(status, f"ACK status {status}")
            self.finish(d, f"{reason}{': ' + text if text else ''}")
        return d

    def finish(self, d: Delivery, error: str | None) -> None:
        self.pending.pop(d.msg_id, None)
        if error is not None:
            self.fail(d, error)
            return
        d.done = True
        d.rtt = time.monotonic() - d.first_sent
        self.counters.delivered += 1
        if d.callback is not None:
            d.callback(d)

    def fail(self, d: Delivery, reason: str) -> Delivery:
        """Report ``d`` as not delivered (it may never have been sent)."""
        d.done = True
        d.error = reason
        self.counters.delivery_failures += 1
        sender = f" from {d.origin}" if d.origin else ""
        self.problems.report(f"delivery {d.topic}", f"delivery to {d.topic}{sender} failed: {reason}")
        if d.callback is not None:
            d.callback(d)
        return d

    def fail_all(self, reason: str) -> None:
        for d in list(self.pending.values()):
            self.finish(d, reason)
