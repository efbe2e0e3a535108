"""The full CBOR codec (RFC 8949): ``dumps(obj) -> bytes``, ``loads(data) -> obj``, for hosts and tests.

It is ``ether_lite.cbor_core`` and ``ether_lite.cbor_decoder`` (what a board loads: the preferred-serialisation
encoder and the decoder of what a host sends a device) extended with the rest of well-formed CBOR: integers beyond 64 bits as bignum
tags 2/3 (where the interpreter has long ints), simple values, undefined, other tags and indefinite
lengths. Anything malformed raises ``CBORDecodeError`` (a ``ValueError``), never another exception, and no
length is used to allocate before the bytes it claims are present. Encoding is exactly what
``cbor2.dumps(obj, canonical=True)`` produces for the same value (PROTOCOL.md, "CBOR rules").
"""

from ether_lite import cbor_core, cbor_decoder
from ether_lite.cbor_core import CBORDecodeError, CBOREncodeError
from ether_lite.cbor_decoder import MAX_DEPTH

__all__ = [
    "MAX_DEPTH",
    "CBORDecodeError",
    "CBOREncodeError",
    "CBORSimpleValue",
    "CBORTag",
    "Decoder",
    "Encoder",
    "dumps",
    "loads",
    "undefined",
]


class CBORTag:
    """A tagged item other than bignums (tags 2 and 3 decode to int)."""

    def __init__(self, tag, value):
        self.tag = tag
        self.value = value

    def __eq__(self, other):
        return isinstance(other, CBORTag) and self.tag == other.tag and self.value == other.value

    def __repr__(self):
        return "CBORTag(%d, %r)" % (self.tag, self.value)


class CBORSimpleValue:
    """Simple value 0..19 or 32..255 (false, true, null and undefined have their own Python values)."""

    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return isinstance(other, CBORSimpleValue) and self.value == other.value

    def __hash__(self):
        return self.value


class _Undefined:
    pass


undefined = _Undefined()  # CBOR undefined (0xf7)
_BREAK = _Undefined()  # the 0xff marker inside indefinite-length items


class Encoder(cbor_core.Encoder):
    """The device encoder, plus bignums, tags, simple values and undefined."""

    def __init__(self, buf=None):
        """Into ``buf`` (full: ``CBOREncodeError``), or without one into a buffer that grows."""
        cbor_core.Encoder.__init__(self, bytearray(64) if buf is None else buf)
        self.grow = buf is None

    def _room(self, k):
        if self.grow and self.n + k > len(self.buf):
            self.buf.extend(bytearray(k + len(self.buf)))
        return cbor_core.Encoder._room(self, k)

    def other(self, obj):
        if isinstance(obj, int):  # beyond 64 bits: tag 2 (positive) or 3 (negative) over the magnitude
            major = 0
            if obj < 0:
                major = 1
                obj = -1 - obj
            k = 0
            t = obj
            while t:
                t >>= 8
                k += 1
            self.head(6, 2 + major)
            self.head(2, k)
            self.raw(obj.to_bytes(k, "big"))
        elif isinstance(obj, CBORTag):
            self.head(6, obj.tag)
            self.encode(obj.value)
        elif isinstance(obj, CBORSimpleValue):
            if obj.value < 24:
                self._put(0xE0 | obj.value, 0, 0)
            else:
                self._put(0xF8, obj.value, 1)
        elif obj is undefined:
            self._put(0xF7, 0, 0)
        else:
            cbor_core.Encoder.other(self, obj)


class Decoder(cbor_decoder.Decoder):
    """The device decoder, plus indefinite lengths, tags (bignums), simple values and undefined."""

    def other(self, ib, depth, at, brk):
        major = ib >> 5
        ai = ib & 0x1F
        if ai == 31:  # indefinite length, or break
            if major == 7 and brk:
                return _BREAK
            if major in (2, 3):
                parts = []
                while True:
                    p = self.need(1)
                    cb = self.d[p]
                    if cb == 0xFF:
                        break
                    if cb >> 5 != major or cb & 0x1F > 27:
                        self.fail("chunk of an indefinite string is not a definite string of its type", p)
                    k = self.arg(cb & 0x1F)
                    q = self.need(k)
                    parts.append(bytes(self.d[q : q + k]))
                return self.string(b"".join(parts), major, at)
            if major in (4, 5):
                out = [] if major == 4 else {}
                while True:
                    x = self.item(depth + 1, True)
                    if x is _BREAK:
                        return out
                    if major == 4:
                        out.append(x)
                    else:
                        out[x] = self.item(depth + 1)  # TypeError (unhashable key): see cbor_decoder.loads()
            self.fail("indefinite length or break with major type %d" % major, at)
        if ai > 27:
            self.fail("reserved additional information %d" % ai, at)
        if major == 7:
            if ai < 20:
                return CBORSimpleValue(ai)
            if ai == 23:
                return undefined
            v = self.d[self.need(1)]
            if v < 32:
                self.fail("simple value %d in two-byte form" % v, at)
            return CBORSimpleValue(v)
        v = self.arg(ai)  # major 6: a tag
        x = self.item(depth + 1)
        if v == 2 or v == 3:
            if not isinstance(x, bytes):
                self.fail("bignum tag %d needs a byte string" % v, at)
            n = int.from_bytes(x, "big")  # OverflowError without long ints: see loads()
            return n if v == 2 else -1 - n
        return CBORTag(v, x)


def dumps(obj):
    """The CBOR encoding of ``obj`` as ``bytes``."""
    enc = Encoder()
    enc.encode(obj)
    return bytes(enc.buf[: enc.n])


def loads(data, start=0, end=-1):
    """The one item encoded in ``data[start:end]``; raises ``CBORDecodeError`` if it is malformed,
    cannot be held by this interpreter, or is followed by extra bytes."""
    return cbor_decoder.loads(data, start, end, Decoder)
