"""One link manager per device: connect, HELLO/DESCRIBE, forward both ways, time-sync, stay attached.

:class:`LinkManager` is a state machine driven by a poll loop (:mod:`ether_medium.bridge.loop`): it never
blocks. The loop waits on :meth:`LinkManager.fileno` and calls :meth:`LinkManager.on_readable` when bytes
arrive and :meth:`LinkManager.on_timer` at :meth:`LinkManager.next_timer`. What the device says goes to a
:class:`Sink` (the fabric in a bridge process, stdout in ``ether bridge``).

States::

    closed ──open──> connected ──HELLO──> describing ──all DESCRIBEs (or 1 s)──> attached
       ^                 │                                                          │
       └──backoff── link lost / silence past the lease (UDP: back to connected, socket kept) ──┘
    a HELLO of another protocol version: incompatible (both versions logged; QUERY every few seconds)

The manager coordinates; each concept has its own module and object, and the manager owns their timers:

- :mod:`~ether_medium.bridge.connection` (:class:`Connection`): opening with backoff, the lease, PINGs;
- :mod:`~ether_medium.bridge.inbound` (:class:`Inbound`): bytes to messages, bad input counted;
- :mod:`~ether_medium.bridge.attach` (:class:`Attach`): HELLO and DESCRIBEs, QUERYs for what is missing;
- :mod:`~ether_medium.bridge.ingest` (:class:`Ingest`): PUBs to readings, sequence gaps;
- :mod:`~ether_medium.bridge.delivery` (:class:`Deliveries`): DELIVER until ACK;
- :mod:`~ether_medium.bridge.clock` (:class:`ClockSync`): device time to host time.

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
from ether_medium.bridge.endpoints import Endpoint
from ether_medium.bridge.identity import DeviceInfo, Identity
from ether_medium.bridge.inbound import Inbound
from ether_medium.bridge.ingest import Ingest, Reading
from ether_medium.bridge.keying import HostKey
from ether_medium.bridge.links import Link, exposure_problem, open_link
from ether_medium.errors import LinkLost, LinkURLError
from ether_medium.problems import ProblemLog, shown

__all__ = ["Delivery", "DeviceInfo", "LinkManager", "Reading", "Sink"]

CLOSED, CONNECTED, DESCRIBING, ATTACHED, INCOMPATIBLE = (
    "closed",
    "connected",
    "describing",
    "attached",
    "incompatible",
)


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
        self.attach = Attach(name, self.renames, log=self.log, problems=self.problems, counters=self.counters)
        self.ingest = Ingest(self)
        self.deliveries = Deliveries(self.counters, self.problems, self._write)
        self._stopped = False
        self._incompatible_query_at = float("inf")

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
            t = min(t, self._incompatible_query_at)
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
                    self._feed(data, now)
                    if self.state == CLOSED:
                        return
            else:
                # One read per readiness: a stream link reads what is there (all of it, up to 64 KB)
                data = self.link.read()
                if data:
                    self._feed(data, now)
        except LinkLost as exc:
            self._lost(exc.reason, now)

    def _timers(self, now: float) -> None:
        conn = self.conn
        if self.state in (DESCRIBING, ATTACHED) and now > conn.lease_end():
            self._silent(now)
            return
        if self.state == CONNECTED and now >= conn.hint_at() and conn.hint(now):
            self.link.reject_current()  # scan the other ports of a multi-port link
            self._schedule_reopen(now)
            return
        if self.state == INCOMPATIBLE:
            if now >= self._incompatible_query_at:
                self._incompatible_query_at = now + self.timing.incompatible_query_s
                self._send(protocol.query())
        else:
            self._send_query(now)
            if self.state == DESCRIBING and now >= self.attach.attach_by():
                self._attached(now)  # with what arrived; what is missing is asked for on
        if conn.ping_at is not None and now >= conn.ping_at:
            self._send(protocol.ping(conn.next_ping(now)))
        self.deliveries.on_timer(now)
        self.inbound.flush_logs(now)
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

    def _schedule_reopen(self, now: float) -> None:
        self.conn.schedule_reopen(now)
        self.state = CLOSED

    def _lost(self, reason: str, now: float) -> None:
        was = self.state
        self.log.warning("%s: link lost on %s: %s; reconnecting", self.name, self.link.where, reason)
        self._detach(f"link lost: {reason}", now)
        if was == ATTACHED:
            self.conn.working()  # a board that was working is retried at once
        self._schedule_reopen(now)

    def _silent(self, now: float) -> None:
        reason = self.conn.silence(now)
        if self.link.reopen_on_silence:
            self._lost(reason, now)
            return
        self.log.warning("%s: device on %s %s; detached, still listening", self.name, self.link.where, reason)
        self._detach(reason, now)
        self.link.free_peer()  # the next board to say HELLO (another address: rebooted, moved) is heard
        self.conn.hinted = True  # said above; no "no answer" hint on top
        self.attach.want_hello(now + 1.0)  # the last address may answer again (same board, same network)

    def _detach(self, reason: str, now: float) -> None:
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

    def _send(self, msg: list[Any]) -> None:
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
                self._send(query)

    # ================================================================ device -> host
    def _feed(self, data: bytes, now: float) -> None:
        if self.link.stranger:  # a datagram from another address than the board's, after its HELLO
            self._stranger(data)
            return
        if self.link.datagram and self.link.where != self.conn.last_peer:
            self._peer_changed(now)
        bodies = self.inbound.bodies(data)
        if bodies and self.keying is not None:
            bodies = self._unsealed(bodies, now)
        if bodies:
            self.conn.last_rx = now
            for body in bodies:
                try:
                    self.inbound.dispatch(body, now)
                except LinkLost:
                    raise
                except Exception as exc:  # the backstop: no body stops the bridge (issue 11)
                    self.inbound.escaped(body, exc, now)
                if self.state == CLOSED:
                    return

    def _unsealed(self, bodies: list[bytes], now: float) -> list[bytes]:
        """The bodies proper of keyed frames whose MAC (and HELLO proof) verify; the rest dropped, counted
        (``unkeyed``) and logged (rate-limited). A frame the board sealed before it had a session (it has
        just started) is dropped quietly and brings a new session at once."""
        assert self.keying is not None
        out = []
        for body in bodies:
            inner, why = self.keying.open(body)
            if inner is not None:
                out.append(inner)
            elif not why:
                if self.keying.board_started:  # the board (re)started: a new session at once
                    self.keying.board_started = False
                    self.attach.want_hello(now)
            else:
                self.counters.unkeyed += 1
                self.problems.report("unkeyed", f"refused a frame from {self.link.where} (device key): {why}")
        return out

    def _stranger(self, data: bytes) -> None:
        self.counters.bytes_in += len(data)
        self.counters.strangers += 1
        self.problems.report(
            "stranger",
            f"dropped a datagram from {self.link.source}: the board attached from "
            f"{self.link.where} said HELLO, only it is heard until it goes silent "
            f"(bytes {data[:16].hex(' ')})",
        )

    def _peer_changed(self, now: float) -> None:
        self.attach.forget_early()  # DESCRIBEs from another sender count for no HELLO from this one
        old, self.conn.last_peer = self.conn.last_peer, self.link.where
        if self.state not in (CONNECTED, INCOMPATIBLE) or self.conn.last_peer == old:
            self.log.info("%s: datagrams now come from %s (was %s)", self.name, self.conn.last_peer, old)
        if self.state == CONNECTED:
            self.attach.want_hello(now)

    def _version_mismatch(self, theirs: int, msg: Any, now: float) -> None:
        if self.state != INCOMPATIBLE:
            if self.state == ATTACHED:
                self._detach(f"protocol version {theirs}", now)
            self.state = INCOMPATIBLE
            self._incompatible_query_at = now + self.timing.incompatible_query_s
            self.attach.stop()
            self.conn.stop_pings()
            self.inbound.other_version(theirs, msg, now, first=True)
        else:
            self.inbound.other_version(theirs, msg, now, first=False)

    def _on_pong(self, msg: list[Any], now: float) -> None:
        if self.info is not None:
            self.conn.pong(msg[1], msg[2], now, self.clock)

    def _unknown_pub(self, tid: int, now: float) -> None:
        """A PUB on a topic not known to publish: dropped and counted (by ingest); while attached, the
        device is asked to describe it (not attached yet: the HELLO and DESCRIBEs are being asked for)."""
        if self.state == ATTACHED:
            self.attach.ask_again(tid, now)

    # ---------------------------------------------------------------- HELLO / DESCRIBE
    def _on_hello(self, msg: list[Any], now: float) -> None:
        why = self.identity.invalid(msg)
        if why is not None:
            self.inbound.bad_body(b"", why, now)
            return
        if self.link.datagram and self.identity.wrong_id(msg[1]):
            # anyone may send a datagram: a HELLO of another board is dropped (counted, logged 1/s); the
            # link stays open, and the board attached (if any) stays attached
            self.counters.wrong_hellos += 1
            self.problems.report(
                "wrong device",
                f"dropped a HELLO from {self.link.where} with device id {shown(msg[1])}, not "
                f"{self.identity.want_id or (self.info and self.info.device_id)!r}",
            )
            return
        if self.identity.wrong(msg[1], self.link.where, self.conn.multi_port()):
            self._detach(f"wrong device {msg[1]!r}", now)
            self.link.reject_current()
            self._schedule_reopen(now)
            return
        if self.state == INCOMPATIBLE:
            self.log.info("%s: the device now speaks protocol version %d", self.name, protocol.VERSION)
        if self.identity.accept(msg):  # a first HELLO, or another boot: nothing learnt before holds
            if self.state == ATTACHED:
                self._detach("device reset", now)
            self.clock.reset(msg[5])
            self.attach.new_boot()
            self.ingest.new_boot()
            self._set_endpoints({})
        self.link.keep_peer()  # a datagram link: from now on only this address is heard
        if self.conn.ping_at is None:
            self._send(protocol.ping(self.conn.next_ping(now)))
        # Within one boot what the device described stays true: DESCRIBEs received before (before the link
        # dropped, or before this HELLO when that was lost) count. A HELLO of the same boot changes nothing.
        early = self.attach.hello(msg[4], now)
        if self.state == ATTACHED:
            return
        self.state = DESCRIBING
        for d in early:
            self._describe(d, now, early=True)
            if self.state != DESCRIBING:
                return
        if self.attach.complete:
            self._attached(now)

    def _on_describe(self, msg: list[Any], now: float) -> None:
        if self.info is None or self.state in (CONNECTED, INCOMPATIBLE):
            # Its HELLO was lost (or not sent yet): keep it for the HELLO that a QUERY brings, so a noisy
            # link need not carry HELLO and every DESCRIBE of one answer intact.
            if len(msg) > 1 and type(msg[1]) is int and msg[1] < protocol.MAX_ENDPOINTS:
                self.attach.early(msg[1], msg, now)
            return
        self._describe(msg, now)

    def _describe(self, msg: list[Any], now: float, early: bool = False) -> None:
        ep = self.attach.describe(msg, now, early=early)
        if ep is not None and self.state == ATTACHED:  # described again (fields now known), or a missing one
            self._redescribe(ep)
        elif self.state == DESCRIBING and self.attach.complete:
            self._attached(now)

    def _refuse_describe(self, tid: int, why: str, now: float) -> None:
        self.attach.refuse(tid, why, now, known=self.state in (DESCRIBING, ATTACHED))
        if self.state == DESCRIBING and self.attach.complete:
            self._attached(now)

    def _attached(self, now: float) -> None:
        """Attach with the endpoints described so far; the topic ids still missing (their DESCRIBEs have
        not arrived whole) are asked for on (:class:`Attach`) and added as they come."""
        assert self.info is not None
        self.state = ATTACHED
        self._set_endpoints(self.attach.endpoints())
        self.attached_at = now
        self.conn.working()
        self.attach.log_attached(self.link.where, self.info)
        self.sink.attached(self)

    def _set_endpoints(self, eps: dict[int, Endpoint]) -> None:
        self.endpoints = eps
        self.by_topic = {e.topic: e for e in eps.values()}
        self.ingest.publish_to(eps if self.state == ATTACHED else {})

    def _redescribe(self, ep: Endpoint) -> None:
        old = self.endpoints.get(ep.topic_id)
        self._set_endpoints({**self.endpoints, ep.topic_id: ep})
        if self.attach.log_redescribed(old, ep):
            self.sink.attached(self)  # a new topic: the fabric side subscribes it

    # ================================================================ stop and report
    def report_counters(self, level: int = logging.INFO) -> None:
        self.log.log(level, "%s link counters (%s): %s", self.name, self.link.where, self.counters.summary())

    def close(self, reason: str = "bridge stopping") -> None:
        if self._stopped:
            return
        now = time.monotonic()
        self._stopped = True
        if self.state != CLOSED:
            self._detach(reason, now)
        self.state = CLOSED
        self.link.close()
        self.inbound.flush_logs(now, closing=True)
        self.problems.flush()
        self.report_counters()
