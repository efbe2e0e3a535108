"""One link manager per device: connect, HELLO/DESCRIBE, forward both ways, time-sync, stay attached.

:class:`LinkManager` is a state machine driven by a poll loop (:mod:`ether_medium.bridge.loop`): it never
blocks. The loop waits on :meth:`LinkManager.fileno` and calls :meth:`LinkManager.on_readable` when bytes
arrive and :meth:`LinkManager.on_timer` at :meth:`LinkManager.next_timer`. What the device says goes to a
:class:`Sink` (the fabric in a bridge process, stdout in ``ether bridge``).

Its states and their transitions are in :mod:`~ether_medium.bridge.states`.

The manager coordinates; each concept has its own module and object, and the manager owns their timers:

- :mod:`~ether_medium.bridge.connection` (:class:`Connection`): opening with backoff, the lease, PINGs;
- :mod:`~ether_medium.bridge.inbound` (:class:`Inbound`): bytes to messages, bad input counted;
- :mod:`~ether_medium.bridge.handshake` (:class:`Handshake`): what HELLO and DESCRIBEs do to the state;
- :mod:`~ether_medium.bridge.attach` (:class:`Attach`): what the device described, QUERYs for what is missing;
- :mod:`~ether_medium.bridge.ingest` (:class:`Ingest`): PUBs to readings, sequence gaps;
- :mod:`~ether_medium.bridge.delivery` (:class:`Deliveries`): DELIVER until ACK;
- :mod:`~ether_medium.bridge.clock` (:class:`ClockSync`): device time to host time;
- :mod:`~ether_medium.bridge.device_reports` (:class:`DeviceReports`): the device's LOG and ERROR frames.

Every frame the manager drops is counted in :attr:`LinkManager.counters` and reported through a
:class:`~ether_medium.problems.ProblemLog`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import cbor2

from ether_lite import framing, protocol
from ether_medium.bridge.attach import Attach
from ether_medium.bridge.clock import ClockSync
from ether_medium.bridge.connection import Connection, Timing
from ether_medium.bridge.counters import LinkCounters
from ether_medium.bridge.delivery import Deliveries, Delivery
from ether_medium.bridge.device_reports import DeviceReports
from ether_medium.bridge.endpoints import Endpoint
from ether_medium.bridge.handshake import Handshake
from ether_medium.bridge.identity import DeviceInfo, Identity
from ether_medium.bridge.inbound import Inbound
from ether_medium.bridge.ingest import Ingest, Reading
from ether_medium.bridge.keying import HostKey
from ether_medium.bridge.links import Link, exposure_problem, open_link
from ether_medium.bridge.states import ATTACHED, CLOSED, CONNECTED, DESCRIBING, INCOMPATIBLE
from ether_medium.errors import LinkLost, LinkURLError
from ether_medium.problems import ProblemLog

__all__ = [
    "ATTACHED",
    "CLOSED",
    "CONNECTED",
    "DESCRIBING",
    "INCOMPATIBLE",
    "Delivery",
    "DeviceInfo",
    "LinkManager",
    "Reading",
    "Sink",
]


class Sink(Protocol):
    """Where a link manager reports what the device does."""

    def attached(self, mgr: LinkManager) -> None: ...
    def detached(self, mgr: LinkManager, reason: str) -> None: ...
    def publish(self, mgr: LinkManager, ep: Endpoint, data: dict[str, Any], reading: Reading) -> None: ...
    def device_log(self, mgr: LinkManager, level: int, text: str) -> None: ...


class LinkManager:
    """Attach one device over one link and keep it attached. See the module docstring."""

    def __init__(
        self,
        name: str,
        link: Link | str,
        sink: Sink,
        *,
        device_id: str | None = None,
        renames: dict[str, str] | None = None,
        logger: logging.Logger | None = None,
        ping_interval_s: float = 1.0,
        lease_s: float = 3.5,
        key: str | bytes | None = None,
    ) -> None:
        self.name = name
        self.keying = HostKey(key) if key else None  # PROTOCOL.md 6.1: every frame sealed and checked
        self.link = open_link(link, device=name, device_id=device_id) if isinstance(link, str) else link
        exposed = exposure_problem(self.link, device_id)
        if exposed is not None:
            raise LinkURLError(self.link.url, exposed)
        self.sink = sink
        self.want_id = device_id
        self.renames = dict(renames or {})
        self.log = logger or logging.getLogger("ether.bridge")
        self.problems = ProblemLog(self.log, name)
        self.timing = Timing(ping_interval_s=ping_interval_s, lease_s=lease_s)
        self.counters = LinkCounters()
        self.clock = ClockSync()
        self.state = CLOSED
        self.identity = Identity(name, device_id, self.counters, self.log)
        self.endpoints: dict[int, Endpoint] = {}  # topic id -> endpoint, as attached
        self.by_topic: dict[str, Endpoint] = {}  # fabric topic -> endpoint
        self.attached_at: float | None = None
        self.last_detach_reason = "not attached yet"
        self.conn = Connection(name, self.link, self.counters, self.log, self.timing)
        self.inbound = Inbound(self)
        self.handshake = Handshake(self)
        self.reports = DeviceReports(name, self.counters, self.problems, self.log)
        self.attach = Attach(name, self.renames, log=self.log, problems=self.problems, counters=self.counters)
        self.ingest = Ingest(self)
        self.deliveries = Deliveries(self.counters, self.problems, self._write)
        self._stopped = False
        self.incompatible_query_at = float("inf")

    @property
    def attached(self) -> bool:
        return self.state == ATTACHED

    @property
    def info(self) -> DeviceInfo | None:
        """What the device's HELLO said (None before the first)."""
        return self.identity.info

    # ================================================================ poll-loop interface
    def fileno(self) -> int:
        return self.link.fileno() if self.state != CLOSED and self.link.is_open else -1

    def start(self, now: float | None = None) -> None:
        """Try to open the link now (failures are retried by :meth:`on_timer` with backoff)."""
        self._try_open(time.monotonic() if now is None else now)

    def next_timer(self) -> float:
        """Monotonic time at which :meth:`on_timer` has something to do."""
        if self._stopped:
            return float("inf")
        if self.state == CLOSED:
            return self.conn.reopen_at
        t = self.conn.ping_at if self.conn.ping_at is not None else float("inf")
        if self.state == INCOMPATIBLE:
            t = min(t, self.incompatible_query_at)
        else:
            at = self.attach.next_at()
            if at is not None and at < t:
                t = at
        if self.state == DESCRIBING:
            t = min(t, self.attach.attach_by(), self.conn.lease_end())
        elif self.state == ATTACHED:
            t = min(t, self.conn.lease_end())
        elif self.state == CONNECTED:
            t = min(t, self.conn.hint_at())
        return min(t, self.deliveries.next_at(), self.ingest.gap_check_at)

    def on_timer(self, now: float) -> None:
        if self._stopped:
            return
        if self.state == CLOSED:
            if now >= self.conn.reopen_at:
                self._try_open(now)
            return
        try:
            self._timers(now)
        except LinkLost as exc:
            self._lost(exc.reason, now)

    def on_readable(self, now: float) -> None:
        if self.state == CLOSED or self._stopped:
            return
        try:
            if self.link.datagram:
                for _ in range(256):
                    data = self.link.read()
                    if not data:
                        break
                    self.inbound.feed(data, now)
                    if self.state == CLOSED:
                        return
            else:
                # One read per readiness: a stream link reads what is there (all of it, up to 64 KB)
                data = self.link.read()
                if data:
                    self.inbound.feed(data, now)
        except LinkLost as exc:
            self._lost(exc.reason, now)

    def _timers(self, now: float) -> None:
        conn = self.conn
        if self.state in (DESCRIBING, ATTACHED) and now > conn.lease_end():
            self._silent(now)
            return
        if self.state == CONNECTED and now >= conn.hint_at() and conn.hint(now):
            self.link.reject_current()  # scan the other ports of a multi-port link
            self.schedule_reopen(now)
            return
        if self.state == INCOMPATIBLE:
            if now >= self.incompatible_query_at:
                self.incompatible_query_at = now + self.timing.incompatible_query_s
                self.send(protocol.query())
        else:
            self._send_query(now)
            if self.state == DESCRIBING and now >= self.attach.attach_by():
                self.attached_now(now)  # with what arrived; what is missing is asked for on
        if conn.ping_at is not None and now >= conn.ping_at:
            self.send(protocol.ping(conn.next_ping(now)))
        self.deliveries.on_timer(now)
        self.reports.flush_logs(now)
        if now >= self.ingest.gap_check_at:
            self.ingest.expire_gaps(now)

    # ================================================================ host -> device
    def deliver(
        self,
        topic: str,
        data: dict[str, Any],
        callback: Callable[[Delivery], None] | None = None,
        origin: str | None = None,
    ) -> Delivery:
        """Send ``data`` to the device subscriber on fabric ``topic``; the callback gets the outcome.

        Data are checked against the endpoint's model first. The DELIVER is retransmitted until ACKed
        (PROTOCOL.md: 4 tries, 30 ms doubling); a delivery that cannot be made is logged with the reason.
        """
        d = Delivery(topic, data, callback=callback, origin=origin)
        if self.state != ATTACHED:
            return self.deliveries.fail(d, f"{self.name} is not attached ({self.last_detach_reason})")
        best = self.clock.best
        try:
            self.deliveries.send(self.name, self.by_topic, d, best.rtt if best is not None else 0.0)
        except LinkLost as exc:
            self._lost(exc.reason, time.monotonic())
        return d

    # ================================================================ link handling
    def _try_open(self, now: float) -> None:
        if self.conn.open(now):
            self.on_link_opened(now)
        else:
            self.state = CLOSED

    def on_link_opened(self, now: float) -> None:
        """The link was opened (by :meth:`start` or by the caller): start talking to the device."""
        self.conn.opened(now)
        self.inbound.reset()
        self.state = CONNECTED
        self.attach.want_hello(now)
        try:
            self._send_query(now)
        except LinkLost as exc:
            self._lost(exc.reason, now)

    def schedule_reopen(self, now: float) -> None:
        self.conn.schedule_reopen(now)
        self.state = CLOSED

    def _lost(self, reason: str, now: float) -> None:
        was = self.state
        self.log.warning("%s: link lost on %s: %s; reconnecting", self.name, self.link.where, reason)
        self.detach(f"link lost: {reason}", now)
        if was == ATTACHED:
            self.conn.working()  # a board that was working is retried at once
        self.schedule_reopen(now)

    def _silent(self, now: float) -> None:
        reason = self.conn.silence(now)
        if self.link.reopen_on_silence:
            self._lost(reason, now)
            return
        self.log.warning("%s: device on %s %s; detached, still listening", self.name, self.link.where, reason)
        self.detach(reason, now)
        self.link.free_peer()  # the next board to say HELLO (another address: rebooted, moved) is heard
        self.conn.hinted = True  # said above; no "no answer" hint on top
        self.attach.want_hello(now + 1.0)  # the last address may answer again (same board, same network)

    def detach(self, reason: str, now: float) -> None:
        """Forget the attachment (not the device identity or its boot id, nor what it described)."""
        was_attached = self.state == ATTACHED
        self.last_detach_reason = reason
        self.deliveries.fail_all(f"{self.name} detached before acknowledging ({reason})")
        self.conn.stop_pings()
        self.attach.stop()
        self.ingest.publish_to({})
        self.state = CONNECTED
        if was_attached:
            self.attached_at = None
            self.sink.detached(self, reason)

    def _write(self, frame: bytes) -> None:
        if not self.link.can_send:
            return
        self.link.write(frame)
        self.counters.frames_out += 1
        self.counters.bytes_out += len(frame)

    def send(self, msg: list[Any]) -> None:
        """Encode (canonical CBOR), seal (a keyed link), frame and write ``msg``."""
        body = cbor2.dumps(msg, canonical=True)
        if self.keying is not None:
            body = self.keying.seal(body)
        self._write(framing.encode_frame(body))

    def _send_query(self, now: float) -> None:
        """The QUERY :class:`Attach` asks for now, if any: bare until the HELLO came, then for the topic ids
        still missing."""
        ids = self.attach.query_due(now)
        if ids is not None:
            # keyed: a bare QUERY opens a new session (every copy of it the same nonce)
            query = self.keying.new_session() if self.keying is not None and not ids else protocol.query(ids)
            for _ in range(self.attach.copies):
                self.send(query)

    # ================================================================ what the device says
    def _on_pong(self, msg: list[Any], now: float) -> None:
        if self.info is not None:
            self.conn.pong(msg[1], msg[2], now, self.clock)

    def _unknown_pub(self, tid: int, now: float) -> None:
        """A PUB on a topic not known to publish: dropped and counted (by ingest); while attached, the
        device is asked to describe it (not attached yet: the HELLO and DESCRIBEs are being asked for)."""
        if self.state == ATTACHED:
            self.attach.ask_again(tid, now)

    # ================================================================ attaching (the handshake's steps)
    def attached_now(self, now: float) -> None:
        """Attach with the endpoints described so far; the topic ids still missing (their DESCRIBEs have
        not arrived whole) are asked for on (:class:`Attach`) and added as they come."""
        assert self.info is not None
        self.state = ATTACHED
        self.set_endpoints(self.attach.endpoints())
        self.attached_at = now
        self.conn.working()
        self.attach.log_attached(self.link.where, self.info)
        self.sink.attached(self)

    def set_endpoints(self, eps: dict[int, Endpoint]) -> None:
        self.endpoints = eps
        self.by_topic = {e.topic: e for e in eps.values()}
        self.ingest.publish_to(eps if self.state == ATTACHED else {})

    # ================================================================ stop and report
    def report_counters(self, level: int = logging.INFO) -> None:
        self.log.log(level, "%s link counters (%s): %s", self.name, self.link.where, self.counters.summary())

    def close(self, reason: str = "bridge stopping") -> None:
        if self._stopped:
            return
        now = time.monotonic()
        self._stopped = True
        if self.state != CLOSED:
            self.detach(reason, now)
        self.state = CLOSED
        self.link.close()
        self.reports.flush_logs(now, closing=True)
        self.problems.flush()
        self.report_counters()
