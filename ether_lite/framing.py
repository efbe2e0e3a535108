"""Frames on a byte link: COBS(body + CRC-16) followed by one 0x00 byte (PROTOCOL.md, "Frames").

What hosts and tests import: ``ether_lite.framing_core`` (what a board loads: ``crc16``,
``encode_in_place``, the streaming ``FrameDecoder``) plus the conveniences that allocate: ``encode_frame``, ``decode_frame``
and ``FrameDecoder.frames()`` / ``counters()``. The one-shot ``decode_frame`` raises ``FrameError`` (a
``ValueError``) naming what was wrong; the streaming decoder never raises on any input bytes.

A board never loads this module (tests/test_deploy.py), so the host's ``encode_frame`` and
``FrameDecoder.frames()`` take a fast path: COBS by slices of the whole chunk and the CRC from
``binascii.crc_hqx`` (CRC-16/CCITT-FALSE with initial value 0xFFFF). They give exactly the bytes, bodies
and counters of the byte-by-byte code in ``framing_core`` (tests/test_lite_framing.py compares them on
random, mutated and arbitrarily chunked streams).
"""

from ether_lite import framing_core as _core
from ether_lite.framing_core import MAX_BODY, MAX_FRAME, crc16

try:
    from binascii import crc_hqx as _crc_hqx
except ImportError:  # MicroPython running tests/micropython/lite_checks.py: the core's CRC, same value

    def _crc_hqx(data, crc):
        return crc16(data, 0, -1, crc)
from ether_lite.framing_core import FrameDecoder as _StreamDecoder

_RAW = MAX_BODY + 2  # body + CRC: the most a frame decodes to

__all__ = [
    "MAX_BODY", "MAX_FRAME", "FrameDecoder", "FrameError", "crc16", "decode_frame", "encode_frame", "encode_in_place",
    "encode_into",
]


class FrameError(ValueError):
    """A frame that cannot be decoded: bad COBS, bad CRC, too short or too long; or a body too long."""


def encode_into(out, body, n=-1):
    """Write the frame of ``body[:n]`` into ``out`` (at least ``MAX_FRAME`` bytes); return its length.
    Raises ``FrameError`` when the body is over ``MAX_BODY`` bytes. No allocation (a board frames in place:
    ``framing_core.encode_in_place``)."""
    if n < 0:
        n = len(body)
    if n > MAX_BODY:
        raise FrameError("frame body is %d bytes; the protocol allows at most %d" % (n, MAX_BODY))
    for i in range(n):
        out[i + 1] = body[i]
    return _core.encode_in_place(out, n)


class FrameDecoder(_StreamDecoder):
    """The streaming decoder of ``framing_core``, plus ``frames(chunk) -> list of bytes``."""

    def __init__(self):
        _StreamDecoder.__init__(self)
        self._tail = b""  # the start of a frame that a later chunk ends (no 0x00 in it), kept by frames()

    def reset(self):
        self._tail = b""
        _StreamDecoder.reset(self)

    def feed(self, data, start=0, end=-1):
        if self._tail:  # what frames() kept goes first, the streaming way (it holds no frame end)
            tail, self._tail = self._tail, b""
            _StreamDecoder.feed(self, tail)
        return _StreamDecoder.feed(self, data, start, end)

    def frames(self, data):
        """All complete frame bodies in ``data`` (plus what earlier feeds left), as new ``bytes``.

        Same bodies and counters as calling :meth:`feed` byte by byte; whole frames are decoded by slices,
        and so is a frame begun by an earlier chunk (its start is kept as bytes, up to the longest frame);
        only a longer run without 0x00 goes through ``feed``.
        """
        if type(data) is not bytes:
            data = bytes(data)
        out = []
        pos = 0
        if self._tail:
            data = self._tail + data
            self._tail = b""
        elif self._raw:  # a frame begun by an earlier chunk, too long to keep: finish it the streaming way
            pos = data.find(b"\0") + 1
            if pos == 0:
                self.feed(data)
                return out
            self.feed(data, 0, pos)
            if self.length >= 0:
                out.append(bytes(self.body[: self.length]))
        parts = data[pos:].split(b"\0")
        tail = parts.pop()  # after the last 0x00: the start of a frame that a later chunk ends
        for seg in parts:
            if seg:  # an empty frame (0x00 0x00) is ignored
                body = self._decode_segment(seg)
                if body is not None:
                    out.append(body)
        self.length = -1
        if len(tail) < MAX_FRAME:
            self._tail = tail
        else:
            self.feed(tail)
        return out

    def _decode_segment(self, seg):
        """Body of the frame ``seg`` (its bytes before the 0x00, none of them 0), or None (counted)."""
        end = len(seg)
        code = seg[0]
        if code == end:  # one block, no zero in body + CRC (what the loop below does for it, in one step)
            if end < 4:
                self.cobs_errors += 1
                return None
            raw = seg[1:]
            if _crc_hqx(raw, 0xFFFF):
                self.crc_errors += 1
                return None
            self.frames_ok += 1
            return raw[:-2]
        pieces = []
        n = 0  # decoded bytes (body + CRC), implied zeros included
        i = 0
        while True:
            j = i + code
            if j > end:  # truncated block
                n += end - i - 1
                if n > _RAW:
                    self.oversize += 1
                else:
                    self.cobs_errors += 1
                return None
            pieces.append(seg[i + 1 : j])
            n += code - 1
            if j == end:
                break
            if code != 0xFF:
                pieces.append(b"\0")
                n += 1
            if n > _RAW:
                self.oversize += 1
                return None
            i = j
            code = seg[j]
        if n > _RAW:
            self.oversize += 1
            return None
        if n < 3:
            self.cobs_errors += 1
            return None
        raw = b"".join(pieces)
        if _crc_hqx(raw, 0xFFFF):
            self.crc_errors += 1
            return None
        self.frames_ok += 1
        return raw[:-2]

    def counters(self):
        return {
            "frames_ok": self.frames_ok,
            "crc_errors": self.crc_errors,
            "cobs_errors": self.cobs_errors,
            "oversize": self.oversize,
        }


def encode_frame(body):
    """The frame of ``body`` as new ``bytes`` (the bytes ``encode_into`` writes, built by slices)."""
    n = len(body)
    if n > MAX_BODY:
        raise FrameError("frame body is %d bytes; the protocol allows at most %d" % (n, MAX_BODY))
    return _frame(bytes(body))


def encode_in_place(buf, n):
    """What ``framing_core.encode_in_place`` does (the frame of the body ``buf[1:n + 1]`` written over it,
    its length returned: the same bytes), by slices with the C CRC. A Node on CPython frames with this
    (``ether_lite.startup``); a board with the core's."""
    frame = _frame(bytes(buf[1 : n + 1]))
    k = len(frame)
    buf[:k] = frame
    return k


def _frame(body):
    parts = (body + _crc_hqx(body, 0xFFFF).to_bytes(2, "big")).split(b"\0")
    last = parts.pop()
    out = bytearray()
    for part in parts:  # each ends at a zero, which the block code implies
        while len(part) >= 254:
            out.append(0xFF)
            out += part[:254]
            part = part[254:]
        out.append(len(part) + 1)
        out += part
    while len(last) > 254:
        out.append(0xFF)
        out += last[:254]
        last = last[254:]
    out.append(0xFF if len(last) == 254 else len(last) + 1)  # a final 0xFF block needs no 0x01 after it
    out += last
    out.append(0)
    return bytes(out)


def decode_frame(frame):
    """Body of exactly one frame (with or without its trailing 0x00); raises ``FrameError``."""
    end = len(frame)
    if end and frame[end - 1] == 0:
        end -= 1
    for i in range(end):
        if frame[i] == 0:
            raise FrameError("0x00 at offset %d inside a frame; frames end at their only 0x00" % i)
    if end == 0:
        raise FrameError("empty frame")
    dec = _StreamDecoder()
    dec.feed(frame, 0, end)
    dec.feed(b"\x00")
    if dec.length >= 0:
        return bytes(dec.body[: dec.length])
    if dec.oversize:
        raise FrameError("frame of %d bytes decodes to more than %d bytes of body" % (end, MAX_BODY))
    if dec.crc_errors:
        raise FrameError("CRC mismatch in a frame of %d bytes: corrupted on the link" % end)
    raise FrameError("bad COBS in a frame of %d bytes: truncated block or shorter than body + CRC" % end)
