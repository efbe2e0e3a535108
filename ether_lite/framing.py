"""Frames on a byte link: COBS(body + CRC-16) followed by one 0x00 byte (PROTOCOL.md, "Frames").

What hosts and tests import: ``ether_lite.framing_core`` (what a board loads: ``crc16``, ``encode_into``,
the streaming ``FrameDecoder``) plus the conveniences that allocate: ``encode_frame``, ``decode_frame``
and ``FrameDecoder.frames()`` / ``counters()``. The one-shot ``decode_frame`` raises ``FrameError`` (a
``ValueError``) naming what was wrong; the streaming decoder never raises on any input bytes.
"""

from ether_lite import framing_core as _core
from ether_lite.framing_core import MAX_BODY, MAX_FRAME, crc16
from ether_lite.framing_core import FrameDecoder as _StreamDecoder

__all__ = ["MAX_BODY", "MAX_FRAME", "FrameDecoder", "FrameError", "crc16", "decode_frame", "encode_frame", "encode_into"]


class FrameError(ValueError):
    """A frame that cannot be decoded: bad COBS, bad CRC, too short or too long; or a body too long."""


def encode_into(out, body, n=-1):
    """Write the frame of ``body[:n]`` into ``out`` (at least ``MAX_FRAME`` bytes); return its length.
    Raises ``FrameError`` when the body is over ``MAX_BODY`` bytes. No allocation."""
    if n < 0:
        n = len(body)
    if n > MAX_BODY:
        raise FrameError("frame body is %d bytes; the protocol allows at most %d" % (n, MAX_BODY))
    return _core.encode_into(out, body, n)


class FrameDecoder(_StreamDecoder):
    """The streaming decoder of ``framing_core``, plus ``frames(chunk) -> list of bytes``."""

    def frames(self, data):
        """All complete frame bodies in ``data`` (plus what earlier feeds left), as new ``bytes``."""
        out = []
        pos = 0
        end = len(data)
        while pos < end:
            pos = self.feed(data, pos, end)
            if self.length >= 0:
                out.append(bytes(self.body[: self.length]))
        return out

    def counters(self):
        return {
            "frames_ok": self.frames_ok,
            "crc_errors": self.crc_errors,
            "cobs_errors": self.cobs_errors,
            "oversize": self.oversize,
        }


def encode_frame(body):
    """The frame of ``body`` as new ``bytes``."""
    out = bytearray(MAX_FRAME)
    n = encode_into(out, body)
    return bytes(out[:n])


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
