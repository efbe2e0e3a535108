"""Inbound: the bytes a device sends, as messages handed to whoever handles them; everything dropped on the
way is counted and reported.

Frames are cut and checked by ``ether_lite.framing.FrameDecoder`` (COBS, CRC-16); bodies are decoded by
``cbor2`` (one decoder, reused: a new one per frame costs more) and must be exactly one CBOR item; messages
are checked by ``ether_lite.protocol.check`` (a PUB, the hot path, by its shape only) and dispatched: PUB to
:class:`~ether_medium.bridge.ingest.Ingest`, ACK to the deliveries, HELLO, DESCRIBE and PONG to the link
manager; LOG and ERROR frames become log lines here. A frame or body that does not pass is counted in
:class:`~ether_medium.bridge.counters.LinkCounters`, reported through the link's
:class:`~ether_medium.problems.ProblemLog` (rate-limited) and, for a body that is not a valid message,
answered with ``ERROR 2`` at most once a second (PROTOCOL.md, section 5).
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Any

import cbor2

from ether_lite import framing, protocol
from ether_medium.problems import shown

if TYPE_CHECKING:
    from ether_medium.bridge.manager import LinkManager

__all__ = ["LOG_RATE", "Inbound"]

LOG_RATE = 20  # device LOG lines passed on per second; beyond: dropped, counted, said once a second

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


_MAX_HEADER = 0xFFFF  # a header beyond this is no protocol version (version 4096): not a message at all
_ANSWERS = (protocol.HELLO, protocol.DESCRIBE)  # the frames of an answer to QUERY


class Inbound:
    """Frames and messages from the link of ``owner``."""

    def __init__(self, owner: LinkManager) -> None:
        self.owner = owner
        self.name = owner.name
        self.link = owner.link
        self.counters = owner.counters
        self.problems = owner.problems
        self.log = owner.log
        self.send = owner._send  # answers to bad input (may raise LinkLost)
        self.decoder = framing.FrameDecoder()
        self._cbor = cbor2.CBORDecoder(io.BytesIO())
        self._undelimited = 0  # datagrams without their 0x00 (counted with cobs_errors)
        self._error_reply_at = -1e9
        self._log_window = -1e9  # the second device LOG lines are counted in
        self._logs_in_window = 0
        self._logs_folded = 0  # LOG lines dropped in this second, said when it ends

    def reset(self) -> None:
        """The link (re)opened: a partial frame from before is no frame."""
        self.decoder.reset()

    def bodies(self, data: bytes) -> list[bytes]:
        """The frame bodies (CRC checked) in ``data``, one read from the link; bad frames counted first."""
        c = self.counters
        c.bytes_in += len(data)
        dec = self.decoder
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
        c.frames_in += len(bodies)
        return bodies

    def _frame_errors(self, data: bytes) -> None:
        c, dec = self.counters, self.decoder
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

    def dispatch(self, body: bytes, now: float) -> None:
        """Decode and check one frame body and hand the message to whoever handles it."""
        o = self.owner
        try:
            msg = self.decode(body)
        except Exception as exc:  # cbor2 raises several types for malformed input
            self.bad_body(body, f"not CBOR: {exc}", now)
            return
        if o.attach.asked is not None and not (type(msg) is list and msg and msg[0] in _ANSWERS):
            o.attach.other_frame(now)  # an answer to a QUERY it follows is over
        if (
            type(msg) is list
            and len(msg) >= 2
            and msg[0] == protocol.PUB
            and type(msg[1]) is int
            and 0 <= msg[1] < protocol.REF_LIMIT
        ):
            o.ingest.pub(msg, now)  # the hot path; protocol.check would say the same
            return
        try:
            kind = protocol.check(msg)
        except protocol.ProtocolError as exc:
            if exc.code == protocol.ERR_VERSION and msg[0] <= _MAX_HEADER:
                o._version_mismatch(int(exc.detail[0]), msg, now)
            elif (
                type(msg) is list
                and len(msg) > 1
                and msg[0] == protocol.DESCRIBE
                and type(msg[1]) is int
                and 0 <= msg[1] < protocol.MAX_ENDPOINTS
            ):
                o._refuse_describe(msg[1], exc.text, now)
            else:
                self.bad_body(body, exc.text, now)
            return
        if kind == protocol.HELLO:
            o._on_hello(msg, now)
        elif kind == protocol.DESCRIBE:
            o._on_describe(msg, now)
        elif kind == protocol.PUB:
            o.ingest.pub(msg, now)
        elif kind == protocol.ACK:
            if o.deliveries.on_ack(msg[1], msg[2], msg[3] if len(msg) > 3 else "") is None:
                self.log.debug(
                    "%s: ACK for msg_id %d, which is not in flight (late duplicate)", self.name, msg[1]
                )
        elif kind == protocol.PONG:
            o._on_pong(msg, now)
        elif kind == protocol.LOG:
            level = self.device_log(msg, now)
            if level is not None:
                o.sink.device_log(o, level, msg[2])
        elif kind == protocol.ERROR:
            self.device_error(msg)
        else:
            self.bad_body(body, f"{protocol.kind_name(kind)} is sent by the host, not by a device", now)

    def escaped(self, body: bytes, exc: Exception, now: float) -> None:
        """A body whose handling raised (a bug the checks above missed): counted, reported with the
        exception and the body, dropped; the bridge keeps running (the link manager's backstop)."""
        self.counters.internal_errors += 1
        self.problems.report(
            "internal",
            f"dropped a frame whose handling failed ({shown(exc, 160)}); "
            f"this is a bug in the bridge, please report it (body {body[:32].hex(' ')})",
            logging.ERROR,
        )

    def decode(self, body: bytes) -> Any:
        """The CBOR item of ``body``; raises (several exception types) when it is not exactly one item."""
        fp = io.BytesIO(body)
        self._cbor.fp = fp
        msg = self._cbor.decode()
        if fp.tell() != len(body):
            raise ValueError(f"{len(body) - fp.tell()} byte(s) after the CBOR item")
        return msg

    def bad_body(self, body: bytes, why: str, now: float) -> None:
        """A frame whose body is not a valid message: counted, reported, answered with ERROR 2 (1/s)."""
        self.counters.decode_errors += 1
        self.problems.report(
            "decode",
            f"dropped a frame that is not a valid message: {why if len(why) <= 200 else why[:197] + '...'} "
            f"(body {body[:32].hex(' ')}{' …' if len(body) > 32 else ''})",
        )
        if now - self._error_reply_at >= 1.0:
            self._error_reply_at = now
            self.send(protocol.error(protocol.ERR_MALFORMED, why[:200]))

    def other_version(self, theirs: int, msg: Any, now: float, *, first: bool) -> None:
        """A frame of another protocol version: counted, said (the ``first`` time) with both versions, and
        answered with ERROR 1 unless it is an ERROR (at most once a second)."""
        self.counters.version_errors += 1
        if first:
            self.log.error(
                "%s: the device on %s speaks protocol version %d; this bridge speaks version %d. "
                "Its topics are not mapped. Install the same Ether release on both sides "
                "(ether deploy copies the host's ether_lite onto a board).",
                self.name,
                self.link.where,
                theirs,
                protocol.VERSION,
            )
        if protocol.kind_of(msg[0]) != protocol.ERROR and now - self._error_reply_at >= 1.0:
            self._error_reply_at = now  # answered at most once a second, as bad bodies: no amplifier
            text = f"protocol version {theirs} received; this side speaks version {protocol.VERSION}"
            self.send(protocol.error(protocol.ERR_VERSION, text, (theirs, protocol.VERSION)))

    def device_log(self, msg: list[Any], now: float) -> int | None:
        """The logging level of a LOG ``[h, level, text]`` (counted), or None when the device has sent more
        than :data:`LOG_RATE` in the current second: dropped, counted, and said (folded) when the next
        second begins."""
        self.counters.logs += 1
        if now - self._log_window >= 1.0:
            self.flush_logs(now)
            self._log_window, self._logs_in_window = now, 0
        self._logs_in_window += 1
        if self._logs_in_window > LOG_RATE:
            self.counters.logs_dropped += 1
            self._logs_folded += 1
            return None
        level: int = msg[1]
        return _LEVELS.get(level, logging.INFO if level < 30 else logging.ERROR)

    def flush_logs(self, now: float, *, closing: bool = False) -> None:
        """Say how many device LOG lines were dropped (the link manager's timers call this too, so the count
        is said when the device goes quiet, and so does closing)."""
        if self._logs_folded and (closing or now - self._log_window >= 1.0):
            self.log.warning(
                "%s: dropped %d device log line(s) in the last %.1f s (more than %d a second)",
                self.name,
                self._logs_folded,
                max(now - self._log_window, 0.0),
                LOG_RATE,
            )
            self._logs_folded = 0

    def device_error(self, msg: list[Any]) -> None:
        """An ERROR the device sent: counted and logged (never answered)."""
        self.counters.device_errors += 1
        code, text, detail = msg[1], msg[2], msg[3:]
        name = _ERROR_NAMES.get(code, f"code {code}")
        if code == protocol.ERR_VERSION and len(detail) >= 2:
            self.problems.report(
                "device version",
                f"the device says it speaks protocol version {shown(detail[1])} and received version "
                f"{shown(detail[0])}: {text}",
                logging.ERROR,
            )
            return
        self.problems.report(
            f"error {code}" if code in _ERROR_NAMES else "error (other codes)",  # a bounded set of kinds
            f"device reports {name}: {text}{' ' + repr(detail) if detail else ''}",
        )
