"""One link manager per device: connect, HELLO/DESCRIBE, forward both ways, time-sync, stay attached.

:class:`LinkManager` is a state machine driven by a poll loop (:mod:`ether_medium.bridge.loop`): it never
blocks. The loop waits on :meth:`LinkManager.fileno` and calls :meth:`LinkManager.on_readable` when bytes
arrive and :meth:`LinkManager.on_timer` at :meth:`LinkManager.next_timer`. What the device says goes to a
:class:`Sink` (the fabric in a bridge process, stdout in ``ether bridge``).

States::

    closed ──open──> connected ──HELLO──> describing ──all DESCRIBEs──> attached
       ^                 │                                                │
       └──backoff── link lost / silence past the lease (UDP: back to connected, socket kept) ──┘
    a HELLO of another protocol version: incompatible (both versions logged; QUERY every few seconds)

Every frame the manager drops is counted in :attr:`LinkManager.counters` and reported through a
:class:`~ether_medium.problems.ProblemLog`.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import cbor2
from pydantic import ValidationError

from ether_lite import framing, protocol
from ether_medium.bridge.attach import Attach, AttachTiming
from ether_medium.bridge.clock import ClockSync
from ether_medium.bridge.counters import LinkCounters
from ether_medium.bridge.delivery import Deliveries, Delivery
from ether_medium.bridge.endpoints import Endpoint, format_validation
from ether_medium.bridge.links import Link, open_link
from ether_medium.bridge.sequence import TopicSequence
from ether_medium.errors import DescribeError, LinkLost, LinkUnavailable
from ether_medium.problems import ProblemLog

__all__ = ["Delivery", "DeviceInfo", "LinkManager", "Reading", "Sink"]

CLOSED, CONNECTED, DESCRIBING, ATTACHED, INCOMPATIBLE = (
    "closed",
    "connected",
    "describing",
    "attached",
    "incompatible",
)
_LEVELS = {10: logging.DEBUG, 20: logging.INFO, 30: logging.WARNING, 40: logging.ERROR, 50: logging.CRITICAL}
_ERROR_NAMES = {
    protocol.ERR_VERSION: "protocol version mismatch",
    protocol.ERR_MALFORMED: "malformed frame",
    protocol.ERR_UNKNOWN_TOPIC: "unknown topic",
    protocol.ERR_BAD_ARGUMENTS: "bad arguments",
    protocol.ERR_OVERSIZE: "oversize",
    protocol.ERR_NOT_READY: "not ready",
    protocol.ERR_INTERNAL: "internal error",
}


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What a HELLO said."""

    device_id: str
    boot_id: int
    firmware: str
    protocol: int
    ticks_period: int
    n_endpoints: int


@dataclass(slots=True)
class Reading:
    """When and in which order one PUB happened (for the fabric envelope)."""

    host_time: float  # time.time() when it was received
    device_time: float | None  # device time mapped to time.time(); None before the first PONG
    uncertainty: float | None  # seconds
    device_seq: int  # the device's sequence number for this topic, unwrapped from 9 bits


class Sink(Protocol):
    """Where a link manager reports what the device does."""

    def attached(self, mgr: LinkManager) -> None: ...
    def detached(self, mgr: LinkManager, reason: str) -> None: ...
    def publish(self, mgr: LinkManager, ep: Endpoint, data: dict[str, Any], reading: Reading) -> None: ...
    def device_log(self, mgr: LinkManager, level: int, text: str) -> None: ...


@dataclass(slots=True)
class _Timing:
    ping_interval_s: float = 1.0
    lease_s: float = 3.5  # no frame for this long while attached: the link is considered lost
    answer_s: float = 3.0  # no answer to QUERY for this long after opening: say so
    backoff_min_s: float = 0.05
    backoff_max_s: float = 2.0
    incompatible_query_s: float = 5.0


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
    ) -> None:
        self.name = name
        self.link = open_link(link, device=name, device_id=device_id) if isinstance(link, str) else link
        self.sink = sink
        self.want_id = device_id
        self.renames = dict(renames or {})
        self.log = logger or logging.getLogger("ether.bridge")
        self.problems = ProblemLog(self.log, name)
        self.timing = _Timing(ping_interval_s=ping_interval_s, lease_s=lease_s)
        self.counters = LinkCounters()
        self.clock = ClockSync()
        self.state = CLOSED
        self.info: DeviceInfo | None = None
        self.endpoints: dict[int, Endpoint] = {}  # topic id -> endpoint, as attached
        self.by_topic: dict[str, Endpoint] = {}  # fabric topic -> endpoint
        self.attached_at: float | None = None
        self.last_detach_reason = "not attached yet"
        self.attach = Attach(name, self.renames, AttachTiming())  # HELLO/DESCRIBE, QUERYs for what is missing
        self._pubs: dict[int, Endpoint] = {}  # publishing endpoints with known fields (hot path)
        self._seq: dict[int, TopicSequence] = {}
        self.deliveries = Deliveries(self.counters, self.problems, self._write)
        self._pings: dict[int, float] = {}  # ping_id -> monotonic time sent
        self._decoder = framing.FrameDecoder()
        self._cbor = cbor2.CBORDecoder(io.BytesIO())  # reused: a new decoder per frame costs more
        self._wall_at = -1.0  # the monotonic receive time ``_wall`` (time.time()) was taken at
        self._wall = 0.0
        self._locked_id: str | None = None  # the board attached first, when no device_id is configured
        self._stopped = False
        self._ever_open = False
        self._backoff = self.timing.backoff_min_s
        self._reopen_at = 0.0
        self._open_failures = 0
        self._last_open_error = ""
        self._connected_at = 0.0
        self._hinted = False
        self._last_rx = 0.0
        self._incompatible_query_at = float("inf")
        # a datagram link reorders: a missing PUB counts as lost only when it has not come within this
        self._grace_s = 1.0 if self.link.datagram else 0.0
        self._gap_check_at = float("inf")
        self._ping_at: float | None = None
        self._ping_id = 0
        self._last_peer = ""
        self._error_reply_at = -1e9
        self._undelimited = 0  # datagrams without their 0x00 (counted with cobs_errors)

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
            return self._reopen_at
        t = self._ping_at if self._ping_at is not None else float("inf")
        if self.state == INCOMPATIBLE:
            t = min(t, self._incompatible_query_at)
        else:
            at = self.attach.next_at()
            if at is not None and at < t:
                t = at
            if self.state == DESCRIBING:
                t = min(t, self.attach.attach_by())
        if self.state in (DESCRIBING, ATTACHED):
            t = min(t, self._last_rx + self.timing.lease_s)
        elif self.state == CONNECTED and not self._hinted:
            t = min(t, self._connected_at + self.timing.answer_s)
        return min(t, self.deliveries.next_at(), self._gap_check_at)

    def on_timer(self, now: float) -> None:
        if self._stopped:
            return
        if self.state == CLOSED:
            if now >= self._reopen_at:
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
                # One read per readiness: a serial port opened with VMIN=0 reads 0 bytes when it has none,
                # which only after poll() said "readable" means the port is gone.
                data = self.link.read()
                if data:
                    self._feed(data, now)
        except LinkLost as exc:
            self._lost(exc.reason, now)

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
        ep = self.by_topic.get(topic)
        if self.state != ATTACHED:
            return self.deliveries.fail(d, f"{self.name} is not attached ({self.last_detach_reason})")
        if ep is None or ep.publishes:
            subs = sorted(e.topic for e in self.endpoints.values() if not e.publishes)
            return self.deliveries.fail(
                d, f"{topic!r} is not a subscriber of {self.name} (it has: {', '.join(subs) or 'none'})"
            )
        values: list[Any]
        if ep.fields is None:
            values = [dict(data)]
        else:
            try:
                checked = ep.model.model_validate(data)
            except ValidationError as exc:
                return self.deliveries.fail(d, f"data do not fit {ep.signature()}: {format_validation(exc)}")
            values = [getattr(checked, n) for n in ep.field_names]
        d.msg_id = self.deliveries.new_msg_id()
        try:
            body = cbor2.dumps(protocol.deliver(ep.topic_id, d.msg_id, values), canonical=True)
            frame = framing.encode_frame(body)
        except (ValueError, TypeError, cbor2.CBOREncodeError) as exc:
            return self.deliveries.fail(d, f"cannot encode for the wire: {exc}")
        now = time.monotonic()
        best = self.clock.best
        try:
            self.deliveries.start(d, frame, best.rtt if best is not None else 0.0, now)
        except LinkLost as exc:
            self._lost(exc.reason, now)
        return d

    # ================================================================ link handling
    def _try_open(self, now: float) -> None:
        try:
            self.link.open()
        except LinkUnavailable as exc:
            self._open_failures += 1
            if (
                exc.reason != self._last_open_error
                or self._open_failures in (1, 10)
                or self._open_failures % 100 == 0
            ):
                level = (
                    logging.WARNING
                    if self._open_failures == 1 or exc.reason != self._last_open_error
                    else logging.INFO
                )
                self.log.log(
                    level,
                    "%s: cannot open %s: %s (attempt %d; retrying every %.1f s at most)",
                    self.name,
                    self.link.url,
                    exc.reason,
                    self._open_failures,
                    self.timing.backoff_max_s,
                )
            self._last_open_error = exc.reason
            self._schedule_reopen(now)
            return
        self.on_link_opened(now)

    def on_link_opened(self, now: float) -> None:
        """The link was opened (by :meth:`start` or by the caller): start talking to the device."""
        if self._ever_open:
            self.counters.reconnects += 1
        self._ever_open = True
        self._open_failures = 0
        self._last_open_error = ""
        self.log.info("%s: link open on %s", self.name, self.link.where)
        self._decoder.reset()
        self.state = CONNECTED
        self._connected_at = now
        self._last_rx = now
        self._hinted = False
        self._ping_at = None
        self._pings.clear()
        self._last_peer = self.link.where
        self.attach.want_hello(now)
        try:
            self._send_query(now)
        except LinkLost as exc:
            self._lost(exc.reason, now)

    def _schedule_reopen(self, now: float) -> None:
        self.link.close()
        self.state = CLOSED
        self._reopen_at = now + self._backoff
        self._backoff = min(self._backoff * 2, self.timing.backoff_max_s)

    def _lost(self, reason: str, now: float) -> None:
        was = self.state
        self.log.warning("%s: link lost on %s: %s; reconnecting", self.name, self.link.where, reason)
        self._detach(f"link lost: {reason}", now)
        self.link.close()
        if was == ATTACHED:
            self._backoff = self.timing.backoff_min_s  # a board that was working is retried at once
        self._schedule_reopen(now)

    def _detach(self, reason: str, now: float) -> None:
        """Forget the attachment (not the device identity or its boot id)."""
        was_attached = self.state == ATTACHED
        self.last_detach_reason = reason
        self.deliveries.fail_all(f"{self.name} detached before acknowledging ({reason})")
        self._pings.clear()
        self._ping_at = None
        self.attach.stop()
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
        self._write(framing.encode_frame(cbor2.dumps(msg, canonical=True)))

    def _send_query(self, now: float) -> None:
        """The QUERY :class:`Attach` asks for now, if any: bare until the HELLO came, then for the topic ids
        still missing."""
        ids = self.attach.query_due(now)
        if ids is None:
            return
        if ids:
            self.problems.report(
                "describe",
                f"DESCRIBEs of topic ids {ids} (of {self.attach.n}) have not arrived whole; asking for them",
                logging.INFO,
            )
        self._send(protocol.query(ids))

    def _timers(self, now: float) -> None:
        if self.state in (DESCRIBING, ATTACHED) and now - self._last_rx > self.timing.lease_s:
            self._silent(now)
            return
        if self.state == CONNECTED and not self._hinted and now - self._connected_at >= self.timing.answer_s:
            self._hinted = True
            if self.link.datagram and not self.link.can_send:
                self.log.info(
                    "%s: nothing received yet on %s; waiting for the board to send",
                    self.name,
                    self.link.where,
                )
            else:
                self.log.warning(
                    "%s: no answer from %s for %.0f s: is ether_lite running on the board (code.py calls "
                    "run()) and, for USB, the data channel enabled in boot.py?",
                    self.name,
                    self.link.where,
                    now - self._connected_at,
                )
                if self._multi_port():
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
                self._describe_complete(now)  # with what arrived; what is missing is asked for on
        if self._ping_at is not None and now >= self._ping_at:
            self._send_ping(now)
        self.deliveries.on_timer(now)
        if now >= self._gap_check_at:
            self._expire_gaps(now)

    def _silent(self, now: float) -> None:
        reason = f"silent for {now - self._last_rx:.1f} s (lease {self.timing.lease_s:g} s)"
        if self.link.reopen_on_silence:
            self._lost(reason, now)
        else:
            self.log.warning(
                "%s: device on %s %s; detached, still listening", self.name, self.link.where, reason
            )
            self._detach(reason, now)
            self._hinted = True  # said above; no "no answer" hint on top
            self.attach.want_hello(now + 1.0)  # the last address may answer again (same board, same network)

    def _send_ping(self, now: float) -> None:
        self._ping_id = (self._ping_id + 1) % (1 << 30)
        self._pings[self._ping_id] = now
        for pid in [p for p, t in self._pings.items() if now - t > self.timing.lease_s]:
            del self._pings[pid]
        self.counters.pings += 1
        self._ping_at = now + self.timing.ping_interval_s
        self._send(protocol.ping(self._ping_id))

    # ================================================================ device -> host
    def _feed(self, data: bytes, now: float) -> None:
        c = self.counters
        c.bytes_in += len(data)
        dec = self._decoder
        if self.link.datagram and self.link.where != self._last_peer:
            self._peer_changed(now)
        bodies = dec.frames(data)  # ether_lite's host entry point: whole frame bodies of this chunk
        if self.link.datagram and not data.endswith(b"\x00"):
            # PROTOCOL.md: a datagram is one frame, 0x00 included; without it the frame is incomplete
            dec.reset()
            self._undelimited += 1
        if (
            dec.crc_errors != c.crc_errors
            or dec.cobs_errors + self._undelimited != c.cobs_errors
            or dec.oversize != c.oversize
        ):
            self._frame_errors(data)  # counted before the frames of this chunk are published
        if bodies:
            c.frames_in += len(bodies)
            self._last_rx = now
            for body in bodies:
                self._on_body(body, now)
                if self.state == CLOSED:
                    return

    def _peer_changed(self, now: float) -> None:
        old, self._last_peer = self._last_peer, self.link.where
        if self.state not in (CONNECTED, INCOMPATIBLE) or self._last_peer == old:
            self.log.info("%s: datagrams now come from %s (was %s)", self.name, self._last_peer, old)
        if self.state == CONNECTED:
            self.attach.want_hello(now)

    def _frame_errors(self, data: bytes) -> None:
        c, dec = self.counters, self._decoder
        cobs = dec.cobs_errors + self._undelimited
        for label, new, old in (
            ("CRC mismatch", dec.crc_errors, c.crc_errors),
            ("bad COBS (truncated, too short, or a datagram without its 0x00)", cobs, c.cobs_errors),
            ("oversize (more than 256 B of body)", dec.oversize, c.oversize),
        ):
            if new > old:
                self.problems.report(
                    label,
                    f"dropped {new - old} frame(s) with {label} on {self.link.where} "
                    f"(bytes read start {data[:24].hex(' ')})",
                )
        c.crc_errors, c.cobs_errors, c.oversize = dec.crc_errors, cobs, dec.oversize

    def _decode(self, body: bytes) -> Any:
        fp = io.BytesIO(body)
        self._cbor.fp = fp
        msg = self._cbor.decode()
        if fp.tell() != len(body):
            raise ValueError(f"{len(body) - fp.tell()} byte(s) after the CBOR item")
        return msg

    def _bad_body(self, body: bytes, why: str, now: float) -> None:
        self.counters.decode_errors += 1
        self.problems.report(
            "decode",
            f"dropped a frame that is not a valid message: {why} "
            f"(body {body[:32].hex(' ')}{' …' if len(body) > 32 else ''})",
        )
        if now - self._error_reply_at >= 1.0:
            self._error_reply_at = now
            self._send(protocol.error(protocol.ERR_MALFORMED, why[:200]))

    def _on_body(self, body: bytes, now: float) -> None:
        try:
            msg = self._decode(body)
        except Exception as exc:  # cbor2 raises several types for malformed input
            self._bad_body(body, f"not CBOR: {exc}", now)
            return
        if (
            type(msg) is list
            and len(msg) >= 2
            and msg[0] == protocol.PUB
            and type(msg[1]) is int
            and 0 <= msg[1] < 1 << 30
        ):
            self._on_pub(msg, now)  # the hot path; protocol.check would say the same
            return
        try:
            kind = protocol.check(msg)
        except protocol.ProtocolError as exc:
            if exc.code == protocol.ERR_VERSION:
                self._version_mismatch(int(exc.detail[0]), msg, now)
            elif msg[0] == protocol.DESCRIBE and len(msg) > 1 and type(msg[1]) is int:
                self._refuse_describe(msg[1], exc.text, now)
            else:
                self._bad_body(body, exc.text, now)
            return
        if kind != protocol.HELLO and kind != protocol.DESCRIBE and self.attach.asked is not None:
            self.attach.other_frame(now)  # an answer to a QUERY it follows is over
        handler = _HANDLERS.get(kind)
        if handler is None:
            self._bad_body(body, f"{protocol.kind_name(kind)} is sent by the host, not by a device", now)
            return
        handler(self, msg, now)

    def _version_mismatch(self, theirs: int, msg: Any, now: float) -> None:
        self.counters.version_errors += 1
        if self.state != INCOMPATIBLE:
            if self.state == ATTACHED:
                self._detach(f"protocol version {theirs}", now)
            self.state = INCOMPATIBLE
            self._incompatible_query_at = now + self.timing.incompatible_query_s
            self.attach.stop()
            self._ping_at = None
            self.log.error(
                "%s: the device on %s speaks protocol version %d; this bridge speaks version %d. "
                "Its topics are not mapped. Install the same Ether release on both sides "
                "(ether deploy copies the host's ether_lite onto a board).",
                self.name,
                self.link.where,
                theirs,
                protocol.VERSION,
            )
        if protocol.kind_of(msg[0]) != protocol.ERROR:
            self._send(
                protocol.error(
                    protocol.ERR_VERSION,
                    f"protocol version {theirs} received; this side speaks version {protocol.VERSION}",
                    (theirs, protocol.VERSION),
                )
            )

    # ---------------------------------------------------------------- HELLO / DESCRIBE
    def _on_hello(self, msg: list[Any], now: float) -> None:
        _, device_id, boot_id, firmware, n_endpoints, ticks_period = msg
        where = self.link.where
        if n_endpoints > protocol.MAX_ENDPOINTS or ticks_period < 2 or ticks_period & (ticks_period - 1):
            self._bad_body(
                b"",
                f"HELLO with {n_endpoints} endpoints (max {protocol.MAX_ENDPOINTS}) or a "
                f"ticks_period {ticks_period} that is not a power of two",
                now,
            )
            return
        want = self.want_id or self._locked_id
        if want is not None and device_id != want:
            if self.want_id:
                source, fix = f"devices.{self.name}.device_id", "fix the config or plug in the right board"
            else:
                source = f"the board {self.name} first attached"
                fix = f"set devices.{self.name}.device_id to attach another board"
            self.log.error(
                "%s: the board on %s has device id %r, not %r (%s); %s",
                self.name,
                where,
                device_id,
                want,
                source,
                "trying other ports" if self._multi_port() else fix,
            )
            self._detach(f"wrong device {device_id!r}", now)
            self.link.reject_current()
            self._schedule_reopen(now)
            return
        old = self.info  # the same board (device ids are checked above), perhaps another boot
        if old is not None and old.boot_id != boot_id:
            self.counters.resets += 1
            self.log.warning(
                "%s: device %r reset (boot id %d -> %d); re-learning its topics",
                self.name,
                device_id,
                old.boot_id,
                boot_id,
            )
            if self.state == ATTACHED:
                self._detach("device reset", now)
            old = None
        if self.state == INCOMPATIBLE:
            self.log.info("%s: the device now speaks protocol version %d", self.name, protocol.VERSION)
        if old is None:  # a first HELLO, or another boot: nothing learnt before holds
            self.clock.reset(ticks_period)
            self.attach.new_boot()
            self._set_endpoints({})
            self._seq.clear()
        self.info = DeviceInfo(device_id, boot_id, firmware, protocol.VERSION, ticks_period, n_endpoints)
        # Boards are told apart by id, never by port: from now on this bridge attaches only this board
        # (a pty path or a USB port reused by another board is refused, and scanning skips it).
        self._locked_id = device_id
        if self._ping_at is None:
            self._send_ping(now)
        # Within one boot what the device described stays true: DESCRIBEs received before (before the link
        # dropped, or before this HELLO when that was lost) count. A HELLO of the same boot changes nothing.
        early = self.attach.hello(n_endpoints, now)
        if self.state == ATTACHED:
            return
        self.state = DESCRIBING
        for d in early:
            self._describe(d, now, early=True)
            if self.state != DESCRIBING:
                return
        self._maybe_complete(now)

    def _multi_port(self) -> bool:
        return getattr(self.link, "pattern", "") == "auto" or any(
            c in getattr(self.link, "pattern", "") for c in "*?["
        )

    def _on_describe(self, msg: list[Any], now: float) -> None:
        if self.info is None or self.state in (CONNECTED, INCOMPATIBLE):
            # Its HELLO was lost (or not sent yet): keep it for the HELLO that a QUERY brings, so a noisy
            # link need not carry HELLO and every DESCRIBE of one answer intact.
            if len(msg) > 1 and type(msg[1]) is int and msg[1] < protocol.MAX_ENDPOINTS:
                self.attach.early(msg[1], msg, now)
            return
        self._describe(msg, now)

    def _describe(self, msg: list[Any], now: float, early: bool = False) -> None:
        try:
            ep = self.attach.describe(msg, now, early=early)
        except DescribeError as exc:
            self._refuse_describe(msg[1], str(exc), now)
            return
        if self.state == ATTACHED:  # one endpoint described again (fields now known), or one missing came
            self._redescribe(ep)
        else:
            self._maybe_complete(now)

    def _refuse_describe(self, tid: int, why: str, now: float) -> None:
        self.counters.describe_errors += 1
        self.problems.report(f"describe {tid}", f"DESCRIBE of topic id {tid} refused: {why}", logging.ERROR)
        if self.state in (CONNECTED, INCOMPATIBLE) or self.info is None:
            return
        self.attach.refused(tid, now)
        self._maybe_complete(now)

    def _maybe_complete(self, now: float) -> None:
        if self.state == DESCRIBING and self.attach.complete:
            self._describe_complete(now)

    def _describe_complete(self, now: float) -> None:
        """Attach with the endpoints described so far; the topic ids still missing (their DESCRIBEs have
        not arrived whole) are asked for on (:class:`Attach`) and added as they come."""
        assert self.info is not None
        missing = self.attach.missing()
        refused = sorted(t for t, e in self.attach.described.items() if e is None)
        new = self.attach.endpoints()
        self._set_endpoints(new)
        self.state = ATTACHED
        self.attached_at = now
        self._backoff = self.timing.backoff_min_s
        unknown = sorted(set(self.renames) - {e.name for e in new.values()})
        if unknown:
            self.log.warning(
                "%s: devices.%s.topics renames %s, which the device does not have (it has %s)",
                self.name,
                self.name,
                ", ".join(unknown),
                ", ".join(sorted(e.name for e in new.values())) or "no topics",
            )
        info = self.info
        self.log.log(
            logging.WARNING if missing else logging.INFO,
            "%s attached on %s: device id %r, firmware %r, boot id %d, protocol %d; %s%s",
            self.name,
            self.link.where,
            info.device_id,
            info.firmware,
            info.boot_id,
            info.protocol,
            "; ".join(e.signature() for e in sorted(new.values(), key=lambda e: e.topic_id)) or "no topics",
            (f"; refused topic ids {refused}" if refused else "")
            + (
                f"; the DESCRIBEs of topic ids {missing} have not arrived whole yet (asking for them on)"
                if missing
                else ""
            ),
        )
        self.sink.attached(self)

    def _set_endpoints(self, eps: dict[int, Endpoint]) -> None:
        self.endpoints = eps
        self.by_topic = {e.topic: e for e in eps.values()}
        self._pubs = {t: e for t, e in eps.items() if e.publishes and e.fields is not None}

    def _redescribe(self, ep: Endpoint) -> None:
        old = self.endpoints.get(ep.topic_id)
        eps = dict(self.endpoints)
        eps[ep.topic_id] = ep
        self._set_endpoints(eps)
        if old is None and not self.attach.missing():
            self.log.info("%s: every topic is described now", self.name)
        if old is None or old.topic != ep.topic or old.publishes != ep.publishes:
            self.log.info("%s: topic id %d is now %s", self.name, ep.topic_id, ep.signature())
            self.sink.attached(self)
        elif old.fields != ep.fields or old.defaults != ep.defaults:
            self.log.info("%s: fields of %s now known: %s", self.name, ep.topic, ep.signature())

    # ---------------------------------------------------------------- PUB
    def _on_pub(self, msg: list[Any], now: float) -> None:
        ref = msg[1]
        tid, seq, t16 = ref & 0x1F, (ref >> 5) & 0x1FF, (ref >> 14) & 0xFFFF
        ep = self._pubs.get(tid)
        if self.attach.asked is not None:
            self.attach.other_frame(now)  # an answer to a QUERY it follows is over
        if ep is None or self.state != ATTACHED:
            self._reject_pub(tid, now)
            return
        st = self._seq.get(tid)
        if st is None:
            st = self._seq[tid] = TopicSequence.first(seq, t16)
            device_seq = seq
        else:
            arrival = st.accept(seq, t16, now, self._grace_s)
            if st.pending:
                self._gap_check_at = min(self._gap_check_at, st.next_deadline())
            if arrival.device_seq is None:
                self.counters.duplicates += 1
                self.problems.report(
                    f"dup {tid}", f"duplicate PUB on {ep.topic} (seq {seq}) dropped", logging.INFO
                )
                return
            device_seq = arrival.device_seq
            if arrival.late:
                self.counters.reordered += 1
                self.problems.report(
                    f"late {tid}",
                    f"PUB on {ep.topic} arrived after a later one (seq {seq} after {st.last}); published",
                    logging.INFO,
                )
            if arrival.lost:
                self._count_lost(ep, arrival.lost, f"before seq {seq}")
        values = msg[2:]
        if len(values) != len(ep.field_names):
            self.counters.rejected += 1
            self.problems.report(
                f"pub-count {tid}",
                f"PUB on {ep.topic} has {len(values)} value(s) {values!r}; the "
                f"DESCRIBE says {ep.signature()}",
            )
            return
        try:
            data = ep.data_of(values)
        except ValueError as exc:
            self.counters.rejected += 1
            self.problems.report(f"pub-type {tid}", f"PUB on {ep.topic} rejected: {exc} ({ep.signature()})")
            return
        m = self.clock.map_ticks16(t16, now)
        if now != self._wall_at:  # every frame of one read from the link was received at once
            self._wall_at, self._wall = now, time.time()
        wall = self._wall
        if m.synced:
            reading = Reading(wall, wall - (now - m.host_time), m.uncertainty, device_seq)
        else:
            reading = Reading(wall, None, None, device_seq)
        self.counters.published += 1
        self.sink.publish(self, ep, data, reading)

    def _count_lost(self, ep: Endpoint, n: int, where: str) -> None:
        self.counters.sequence_gaps += n
        self.problems.report(f"gap {ep.topic_id}", f"{n} PUB(s) on {ep.topic} lost on the link ({where})")

    def _expire_gaps(self, now: float) -> None:
        """On a datagram link, missing PUBs whose grace is over count as lost now."""
        self._gap_check_at = float("inf")
        for tid, st in self._seq.items():
            if st.pending:
                lost = st.expire(now)
                ep = self.endpoints.get(tid)
                if lost and ep is not None:
                    self._count_lost(ep, lost, f"not arrived within {self._grace_s:g} s")
                self._gap_check_at = min(self._gap_check_at, st.next_deadline())

    def _reject_pub(self, tid: int, now: float) -> None:
        self.counters.rejected += 1
        ep = self.endpoints.get(tid)
        if self.state != ATTACHED:
            why = f"PUB on topic id {tid} before the device described itself ({self.state})"
        elif ep is None:
            why = f"PUB on topic id {tid}, which the device has not described"
        elif not ep.publishes:
            why = f"PUB on topic id {tid} ({ep.topic}), which the device described as a subscriber"
        else:
            why = f"PUB on {ep.topic} before the device described its fields"
        if self.state == ATTACHED:
            self.problems.report(f"reject {tid}", f"{why}: dropped; asking for its DESCRIBE (QUERY)")
            self.attach.ask_again(tid, now)
        else:  # the HELLO and DESCRIBEs are being asked for already
            self.problems.report(f"reject {tid}", f"{why}: dropped")

    # ---------------------------------------------------------------- the rest
    def _on_ack(self, msg: list[Any], now: float) -> None:
        if self.deliveries.on_ack(msg[1], msg[2], msg[3] if len(msg) > 3 else "") is None:
            self.log.debug(
                "%s: ACK for msg_id %d, which is not in flight (late duplicate)", self.name, msg[1]
            )

    def _on_pong(self, msg: list[Any], now: float) -> None:
        sent = self._pings.pop(msg[1], None)
        if sent is None or self.info is None:
            return
        self.counters.pongs += 1
        self.clock.add_pong(sent, now, msg[2])
        if self.clock.samples < self.clock.window // 2 and self._ping_at is not None:
            self._ping_at = now + 0.005  # fill the window quickly after attaching

    def _on_log(self, msg: list[Any], now: float) -> None:
        self.counters.logs += 1
        self.sink.device_log(
            self, _LEVELS.get(msg[1], logging.INFO if msg[1] < 30 else logging.ERROR), msg[2]
        )

    def _on_error(self, msg: list[Any], now: float) -> None:
        self.counters.device_errors += 1
        code, text, detail = msg[1], msg[2], msg[3:]
        name = _ERROR_NAMES.get(code, f"code {code}")
        if code == protocol.ERR_VERSION and len(detail) >= 2:
            self.log.error(
                "%s: the device says it speaks protocol version %s and received version %s: %s",
                self.name,
                detail[1],
                detail[0],
                text,
            )
            return
        self.problems.report(
            f"error {code}", f"device reports {name}: {text}{' ' + repr(detail) if detail else ''}"
        )

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
        self.problems.flush()
        self.report_counters()


_HANDLERS: dict[int, Callable[[LinkManager, list[Any], float], None]] = {
    protocol.HELLO: LinkManager._on_hello,
    protocol.DESCRIBE: LinkManager._on_describe,
    protocol.PUB: LinkManager._on_pub,
    protocol.ACK: LinkManager._on_ack,
    protocol.PONG: LinkManager._on_pong,
    protocol.LOG: LinkManager._on_log,
    protocol.ERROR: LinkManager._on_error,
}
