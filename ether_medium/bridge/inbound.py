"""Inbound: the bytes a device sends, as messages handed to whoever handles them; everything dropped on the
way is counted and reported.

:meth:`Inbound.feed` takes one read from the link. A datagram from another address than the board's (after
its HELLO) is dropped whole. Frames are cut and checked by ``ether_lite.framing.FrameDecoder`` (COBS,
CRC-16); on a keyed link each frame's MAC is checked (:class:`~ether_medium.bridge.keying.HostKey`). The
bodies of one read are decoded by ``cbor2`` in one pass over their concatenation (one decoder, reused: a
new one per frame costs more), each checked to end exactly where its frame ends; a body that does not is
decoded again on its own, which says what is wrong with it. A body must be exactly one CBOR item; messages
are checked by ``ether_lite.protocol.check`` (a PUB, the hot path, by its shape only) and dispatched: PUB
to :class:`~ether_medium.bridge.ingest.Ingest`, ACK to the deliveries, HELLO and DESCRIBE to the
:class:`~ether_medium.bridge.handshake.Handshake`, PONG to the link manager, LOG and ERROR to
:class:`~ether_medium.bridge.device_reports.DeviceReports`.

A frame or body that does not pass is counted in :class:`~ether_medium.bridge.counters.LinkCounters`,
reported through the link's :class:`~ether_medium.problems.ProblemLog` (rate-limited) and, for a body that
is not a valid message, answered with ``ERROR 2`` at most once a second (PROTOCOL.md, section 5). A body
whose handling raises (a bug) is counted and reported, and the rest of the read is handled all the same.
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Any

import cbor2

from ether_lite import framing, protocol
from ether_medium.bridge.states import CLOSED, CONNECTED, INCOMPATIBLE
from ether_medium.errors import LinkLost
from ether_medium.problems import shown

if TYPE_CHECKING:
    from ether_medium.bridge.manager import LinkManager

__all__ = ["Inbound"]


_MAX_HEADER = 0xFFFF  # a header beyond this is no protocol version (version 4096): not a message at all
_ANSWERS = (protocol.HELLO, protocol.DESCRIBE)  # the frames of an answer to QUERY
_PUB = protocol.PUB
_REF_LIMIT = protocol.REF_LIMIT
_UNDECODABLE = object()  # what a body that is not one CBOR item decodes to (reported already)


def _is_pub(msg: Any) -> bool:
    """A well-formed PUB head, ``[2, ref, ...]`` (the hot path; ``protocol.check`` would say the same)."""
    return (type(msg) is list and len(msg) >= 2 and msg[0] == _PUB and type(msg[1]) is int
            and 0 <= msg[1] < _REF_LIMIT)


class Inbound:
    """Frames and messages from the link of ``owner``."""

    def __init__(self, owner: LinkManager) -> None:
        self.owner = owner
        self.name = owner.name
        self.link = owner.link
        self.counters = owner.counters
        self.problems = owner.problems
        self.log = owner.log
        self.send = owner.send  # answers to bad input (may raise LinkLost)
        self.decoder = framing.FrameDecoder()
        self._cbor = cbor2.CBORDecoder(io.BytesIO())
        self._undelimited = 0  # datagrams without their 0x00 (counted with cobs_errors)
        self._error_reply_at = -1e9
        self._at = 0  # index of the body being handled in the read (for the backstop)

    def reset(self) -> None:
        """The link (re)opened: a partial frame from before is no frame."""
        self.decoder.reset()

    # ------------------------------------------------------------------ bytes to bodies
    def feed(self, data: bytes, now: float) -> None:
        """One read from the link: every message in it handled, in order, until the link closes."""
        o = self.owner
        link = self.link
        if link.stranger:  # a datagram from another address than the board's, after its HELLO
            self._stranger(data)
            return
        if link.datagram and link.where != o.conn.last_peer:
            self._peer_changed(now)
        bodies = self.bodies(data)
        if bodies and o.keying is not None:
            bodies = self._unsealed(bodies, now)
        if not bodies:
            return
        o.conn.last_rx = now
        i, n = 0, len(bodies)
        while i < n:
            try:
                i = self._dispatch_from(bodies, i, now)
            except LinkLost:
                raise
            except Exception as exc:  # the backstop: no body stops the bridge (issue 11)
                self.escaped(bodies[self._at], exc, now)
                i = self._at + 1
            if o.state == CLOSED:
                return

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

    def _unsealed(self, bodies: list[bytes], now: float) -> list[bytes]:
        """The bodies proper of keyed frames whose MAC (and HELLO proof) verify; the rest dropped, counted
        (``unkeyed``) and logged (rate-limited). A frame the board sealed before it had a session (it has
        just started) is dropped quietly and brings a new session at once."""
        keying = self.owner.keying
        assert keying is not None
        out = []
        for body in bodies:
            inner, why = keying.open(body)
            if inner is not None:
                out.append(inner)
            elif not why:
                if keying.board_started:  # the board (re)started: a new session at once
                    keying.board_started = False
                    self.owner.attach.want_hello(now)
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
        o = self.owner
        o.attach.forget_early()  # DESCRIBEs from another sender count for no HELLO from this one
        old, o.conn.last_peer = o.conn.last_peer, self.link.where
        if o.state not in (CONNECTED, INCOMPATIBLE) or o.conn.last_peer == old:
            self.log.info("%s: datagrams now come from %s (was %s)", self.name, o.conn.last_peer, old)
        if o.state == CONNECTED:
            o.attach.want_hello(now)

    # ------------------------------------------------------------------ bodies to messages
    def _dispatch_from(self, bodies: list[bytes], start: int, now: float) -> int:
        """Decode and dispatch ``bodies[start:]`` (the hot path: PUBs go to ingest from here); returns the
        index after the last one handled (fewer than all when the link closed)."""
        o = self.owner
        dec = self._cbor
        fp = io.BytesIO(bodies[0] if len(bodies) == 1 else b"".join(bodies[start:]))
        dec.fp = fp
        decode, tell = dec.decode, fp.tell
        pub, attach = o.ingest.pub, o.attach
        end = 0
        for i in range(start, len(bodies)):
            self._at = i
            body = bodies[i]
            end += len(body)
            try:
                msg = decode()
                whole = tell() == end
            except Exception:  # cbor2 raises several types for malformed input
                whole = False
            if not whole:  # decoded on its own: what is wrong with it is said as for a single frame
                msg = self._decode_alone(body, now)
                fp.seek(end)
                dec.fp = fp
                if msg is _UNDECODABLE:
                    continue
            if _is_pub(msg):
                if attach.asked is not None:
                    attach.other_frame(now)  # an answer to a QUERY it follows is over
                pub(msg, now)  # protocol.check would say the same
            else:
                self.dispatch_message(body, msg, now)
                if o.state == CLOSED:
                    return i + 1
        return len(bodies)

    def _decode_alone(self, body: bytes, now: float) -> Any:
        try:
            return self.decode(body)
        except Exception as exc:  # cbor2 raises several types for malformed input
            self.bad_body(body, f"not CBOR: {exc}", now)
            return _UNDECODABLE

    def dispatch(self, body: bytes, now: float) -> None:
        """Decode and check one frame body and hand the message to whoever handles it."""
        msg = self._decode_alone(body, now)
        if msg is not _UNDECODABLE:
            self.dispatch_message(body, msg, now)

    def dispatch_message(self, body: bytes, msg: Any, now: float) -> None:
        """Check the message ``msg`` (decoded from ``body``) and hand it to whoever handles it."""
        o = self.owner
        if o.attach.asked is not None and not (type(msg) is list and msg and msg[0] in _ANSWERS):
            o.attach.other_frame(now)  # an answer to a QUERY it follows is over
        if _is_pub(msg):
            o.ingest.pub(msg, now)  # the hot path; protocol.check would say the same
            return
        try:
            kind = protocol.check(msg)
        except protocol.ProtocolError as exc:
            if exc.code == protocol.ERR_VERSION and msg[0] <= _MAX_HEADER:
                o.handshake.version_mismatch(int(exc.detail[0]), msg, now)
            elif (
                type(msg) is list
                and len(msg) > 1
                and msg[0] == protocol.DESCRIBE
                and type(msg[1]) is int
                and 0 <= msg[1] < protocol.MAX_ENDPOINTS
            ):
                o.handshake.refuse_describe(msg[1], exc.text, now)
            else:
                self.bad_body(body, exc.text, now)
            return
        if kind == protocol.HELLO:
            o.handshake.hello(msg, now)
        elif kind == protocol.DESCRIBE:
            o.handshake.describe(msg, now)
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
            level = o.reports.device_log(msg, now)
            if level is not None:
                o.sink.device_log(o, level, msg[2])
        elif kind == protocol.ERROR:
            o.reports.device_error(msg)
        else:
            self.bad_body(body, f"{protocol.kind_name(kind)} is sent by the host, not by a device", now)

    def escaped(self, body: bytes, exc: Exception, now: float) -> None:
        """A body whose handling raised (a bug the checks above missed): counted, reported with the
        exception and the body, dropped; the bridge keeps running (the backstop of :meth:`feed`)."""
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
