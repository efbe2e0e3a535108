"""Frames on a byte link, the part a board loads: COBS(body + CRC-16) followed by one 0x00 byte.

See PROTOCOL.md, section "Frames". The same bytes travel in a UDP datagram, so one decoder serves
every link. Nothing here allocates per frame: ``encode_in_place`` frames a body where it lies, and the
streaming decoder collects the body into a buffer preallocated for the largest legal frame.

The streaming decoder never raises on any input bytes: corruption is counted (``crc_errors``,
``cobs_errors``, ``oversize``) and the decoder resynchronises at the next 0x00. ``ether_lite.framing``
(what hosts and tests import) adds the one-shot helpers, ``FrameError`` and ``FrameDecoder.frames()``.
"""

try:
    from micropython import const
except ImportError:  # CPython: every const here is an int
    const = int


MAX_BODY = const(256)  # largest CBOR body of one frame, bytes
# COBS adds one code byte per 254 input bytes (at most 2 for body + CRC), plus the 0x00 delimiter.
MAX_FRAME = const(261)
_RAW = const(258)  # body + CRC



def crc16(data, start=0, end=-1, crc=0xFFFF):
    """CRC-16/CCITT-FALSE of ``data[start:end]`` (``end=-1``: to the end). ``crc16(b"123456789") == 0x29B1``."""
    # Poly 0x1021, init 0xFFFF, no reflection, no final xor; a nibble at a time. The usual 16-entry nibble
    # table holds x * 0x1021 carry-less, which for a nibble x is x << 12 ^ x << 5 ^ x: computed, not stored.
    if end < 0:
        end = len(data)
    for i in range(start, end):
        b = data[i]
        x = (crc >> 12) ^ (b >> 4)
        crc = ((crc << 4) & 0xFFFF) ^ x << 12 ^ x << 5 ^ x
        x = (crc >> 12) ^ (b & 0x0F)
        crc = ((crc << 4) & 0xFFFF) ^ x << 12 ^ x << 5 ^ x
    return crc


def encode_in_place(buf, n):
    """Make ``buf`` the frame of the body ``buf[1:n + 1]``; return the frame's length.

    The frame is COBS(body + CRC16 big-endian) + 0x00, written over the body where it lies: a body starts
    one byte in, where the first code byte goes, so a Node encodes a message straight into its frame buffer
    (``MAX_FRAME`` bytes: a body of up to ``MAX_BODY``, not checked here). No allocation. A block of 254
    bytes without a zero (only in bodies over 252 bytes) shifts the rest of the frame by one.
    """
    crc = crc16(buf, 1, n + 1)
    buf[n + 1] = crc >> 8
    buf[n + 2] = crc & 0xFF
    end = n + 3  # one past the last byte of body + CRC
    code_at = 0
    i = 1
    while i < end:
        if i - code_at == 255:  # 254 bytes without a zero: the block's code is 0xFF; the next code goes here
            j = end
            while j > i:
                buf[j] = buf[j - 1]
                j -= 1
            end += 1
            buf[code_at] = 0xFF
            code_at = i
        elif buf[i] == 0:
            buf[code_at] = i - code_at
            code_at = i
        i += 1
    buf[code_at] = end - code_at
    buf[end] = 0
    return end + 1


class FrameDecoder:
    """Streaming decoder: feed any chunks of bytes, get whole frame bodies out, allocating nothing::

        pos = 0
        while pos < n:
            pos = dec.feed(chunk, pos, n)
            if dec.length >= 0:
                handle(dec.body, dec.length)   # valid until the next feed()
    """

    def __init__(self):
        self.body = bytearray(_RAW)
        self.length = -1  # body length of the frame just completed, -1 when none
        self._n = 0  # decoded bytes so far in the current frame
        self._left = 0  # bytes left in the current COBS block
        self._code = 0xFF  # code of the current block (0xFF: no implicit zero follows)
        self._raw = 0  # raw bytes seen in the current frame
        self._bad = 0  # 0 ok, 1 oversize, 2 COBS error (frame is being discarded)
        self.frames_ok = 0
        self.crc_errors = 0
        self.cobs_errors = 0
        self.oversize = 0

    def reset(self):
        """Forget the frame in progress (counters stay)."""
        self._n = 0
        self._left = 0
        self._code = 0xFF
        self._raw = 0
        self._bad = 0

    def feed(self, data, start=0, end=-1):
        """Consume ``data[start:end]`` up to and including the next frame end.

        Returns the index of the first byte not consumed. If a valid frame completed, ``self.length``
        is its body length (body in ``self.body``), otherwise -1. Never raises for any byte values.
        """
        if end < 0:
            end = len(data)
        self.length = -1
        buf = self.body
        i = start
        while i < end:
            b = data[i]
            i += 1
            if b == 0:
                if self._raw:  # a frame ends: count what was wrong with it, or hand out its body
                    n = self._n
                    if self._bad == 1:
                        self.oversize += 1
                    elif self._left != 0 or n < 3:
                        self.cobs_errors += 1
                    elif crc16(buf, 0, n) != 0:
                        self.crc_errors += 1
                    else:
                        self.frames_ok += 1
                        self.length = n - 2
                    self.reset()
                    if self.length >= 0:
                        return i
                continue
            self._raw += 1
            if self._bad:
                continue
            if self._left == 0:
                # start of a block: the previous block (if any, and if shorter than 254) implied a zero
                if self._raw > 1 and self._code != 0xFF:
                    if self._n >= _RAW:
                        self._bad = 1
                        continue
                    buf[self._n] = 0
                    self._n += 1
                self._code = b
                self._left = b - 1
            else:
                if self._n >= _RAW:
                    self._bad = 1
                    continue
                buf[self._n] = b
                self._n += 1
                self._left -= 1
        return i
