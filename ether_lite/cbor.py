"""A small CBOR codec (RFC 8949) for boards: ``dumps(obj) -> bytes``, ``loads(data) -> obj``.

Encoding is the preferred serialisation (PROTOCOL.md, "CBOR rules"): shortest integer heads, definite
lengths, each float in the shortest of half/single/double precision that holds it exactly, and map keys
sorted length-first: exactly what ``cbor2.dumps(obj, canonical=True)`` produces for the same value.
``Encoder`` writes into a preallocated buffer, so a reading can be encoded without allocation.

Decoding accepts every well-formed item: integers (64-bit; bignum tags 2/3 where the interpreter has
long ints), half/single/double floats, text, bytes, arrays, maps, false/true/null/undefined, simple
values, tags and indefinite lengths. Anything malformed raises ``CBORDecodeError`` (a ``ValueError``),
never another exception, and no length is used to allocate before the bytes it claims are present.
"""

import struct

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):  # type: ignore[no-redef]
        return x


MAX_DEPTH = const(24)  # nesting of arrays/maps/tags the decoder follows


class CBORDecodeError(ValueError):
    """Malformed or unsupported CBOR; the message says what and at which byte offset."""


class CBOREncodeError(ValueError):
    """A value with no CBOR form, or an encoding that does not fit the buffer."""


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

    def __repr__(self):
        return "CBORSimpleValue(%d)" % self.value


class _Undefined:
    def __repr__(self):
        return "undefined"

    def __bool__(self):
        return False


undefined = _Undefined()


# ---------------------------------------------------------------------------------------- encoder


class Encoder:
    """Encodes into ``buf``; with ``grow=False`` (device) it never allocates for ints, floats, bools,
    None, bytes and nested arrays of them, and raises ``CBOREncodeError`` when ``buf`` is full."""

    def __init__(self, buf, grow=False):
        self.buf = buf
        self.n = 0
        self.grow = grow
        self._f = bytearray(8)

    def _room(self, k):
        if self.n + k > len(self.buf):
            if not self.grow:
                raise CBOREncodeError("encoding exceeds the %d-byte buffer" % len(self.buf))
            self.buf.extend(bytearray(max(k, len(self.buf))))

    def _byte(self, b):
        if self.n >= len(self.buf):
            self._room(1)
        self.buf[self.n] = b
        self.n += 1

    def head(self, major, v):
        """Write an item head: major type (0..7) and argument ``v`` >= 0, shortest form."""
        mt = major << 5
        if v < 24:
            self._byte(mt | v)
        elif v >> 8 == 0:
            self._room(2)
            self._byte(mt | 24)
            self._byte(v)
        elif v >> 16 == 0:
            self._room(3)
            self._byte(mt | 25)
            self._byte(v >> 8)
            self._byte(v & 0xFF)
        elif v >> 32 == 0:
            self._room(5)
            self._byte(mt | 26)
            for s in (24, 16, 8, 0):
                self._byte((v >> s) & 0xFF)
        else:
            self._room(9)
            self._byte(mt | 27)
            for s in (56, 48, 40, 32, 24, 16, 8, 0):
                self._byte((v >> s) & 0xFF)

    def raw(self, data):
        k = len(data)
        self._room(k)
        n = self.n
        self.buf[n : n + k] = data
        self.n = n + k

    def encode(self, obj):
        if obj is None:
            self._byte(0xF6)
        elif obj is True:
            self._byte(0xF5)
        elif obj is False:
            self._byte(0xF4)
        elif isinstance(obj, int):
            self.int(obj)
        elif isinstance(obj, float):
            self.float(obj)
        elif isinstance(obj, str):
            b = obj.encode("utf-8")
            self.head(3, len(b))
            self.raw(b)
        elif isinstance(obj, (bytes, bytearray, memoryview)):
            self.head(2, len(obj))
            self.raw(obj)
        elif isinstance(obj, (list, tuple)):
            self.head(4, len(obj))
            for x in obj:
                self.encode(x)
        elif isinstance(obj, dict):
            self.map(obj)
        elif isinstance(obj, CBORTag):
            self.head(6, obj.tag)
            self.encode(obj.value)
        elif isinstance(obj, CBORSimpleValue):
            if obj.value < 24:
                self._byte(0xE0 | obj.value)
            else:
                self._byte(0xF8)
                self._byte(obj.value)
        elif obj is undefined:
            self._byte(0xF7)
        else:
            raise CBOREncodeError("cannot encode %s as CBOR: %r" % (type(obj).__name__, obj))

    def map(self, d):
        """Keys in canonical order: shorter encoded key first, then bytewise (as cbor2 canonical),
        so a map encodes the same whatever the interpreter's dict order."""
        keys = [(len(k), k, d[key]) for key in d for k in (dumps(key),)]
        keys.sort(key=_first_two)
        self.head(5, len(keys))
        for _, k, v in keys:
            self.raw(k)
            self.encode(v)

    def int(self, v):
        major = 0
        if v < 0:
            major = 1
            v = -1 - v
        if v >> 64 == 0:
            self.head(major, v)
            return
        k = 0
        t = v
        while t:
            t >>= 8
            k += 1
        self.head(6, 2 + major)  # bignum: tag 2 (positive) or 3 (negative)
        self.head(2, k)
        self.raw(v.to_bytes(k, "big"))

    def float(self, x):
        f = self._f
        struct.pack_into(">d", f, 0, x)
        b0 = f[0]
        b1 = f[1]
        sign = b0 & 0x80
        e = ((b0 & 0x7F) << 4) | (b1 >> 4)
        low29 = f[7] | f[6] | f[5] | (f[4] & 0x1F)
        if e == 0x7FF:  # infinity or NaN: half precision (NaN canonical 7e00)
            if (b1 & 0x0F) | f[2] | f[3] | f[4] | low29:
                self._half(0x7E, 0)
            else:
                self._half(sign | 0x7C, 0)
            return
        if e == 0 and not ((b1 & 0x0F) | f[2] | f[3] | f[4] | low29):
            self._half(sign, 0)  # +-0.0
            return
        ex = e - 1023
        if low29 == 0 and f[4] == 0 and f[3] == 0 and (f[2] & 0x03) == 0 and -25 < ex < 16:
            m10 = ((b1 & 0x0F) << 6) | (f[2] >> 2)
            if ex >= -14:
                self._half(sign | ((ex + 15) << 2) | (m10 >> 8), m10 & 0xFF)
                return
            top = m10 | 0x400  # half subnormal: the 11-bit significand shifted right
            sh = -14 - ex
            if top & ((1 << sh) - 1) == 0:
                top >>= sh
                self._half(sign | (top >> 8), top & 0xFF)
                return
        if low29 == 0 and -127 < ex < 128:
            m23 = ((b1 & 0x0F) << 19) | (f[2] << 11) | (f[3] << 3) | (f[4] >> 5)
            be = ex + 127
            self._room(5)
            self._byte(0xFA)
            self._byte(sign | (be >> 1))
            self._byte(((be & 1) << 7) | (m23 >> 16))
            self._byte((m23 >> 8) & 0xFF)
            self._byte(m23 & 0xFF)
            return
        if -150 < ex <= -127 and struct.unpack(">f", struct.pack(">f", x))[0] == x:
            self.raw(b"\xfa" + struct.pack(">f", x))  # single-precision subnormal (rare)
            return
        self._byte(0xFB)
        self.raw(f)

    def _half(self, hi, lo):
        self._room(3)
        self._byte(0xF9)
        self._byte(hi)
        self._byte(lo)


def _first_two(t):
    return (t[0], t[1])


def dumps(obj):
    """The CBOR encoding of ``obj`` as ``bytes``."""
    enc = Encoder(bytearray(64), True)
    enc.encode(obj)
    return bytes(enc.buf[: enc.n])


# ---------------------------------------------------------------------------------------- decoder

_BREAK = object()


class _Decoder:
    def __init__(self, data, pos, end):
        self.data = data
        self.pos = pos
        self.end = end

    def fail(self, what, at=-1):
        raise CBORDecodeError("%s at byte %d" % (what, self.pos if at < 0 else at))

    def need(self, k):
        if k > self.end - self.pos:
            self.fail("%d bytes claimed, %d present" % (k, self.end - self.pos))

    def take(self, k):
        self.need(k)
        p = self.pos
        self.pos = p + k
        return bytes(self.data[p : p + k])

    def arg(self, ai):
        """The argument of a head with additional information ``ai`` (0..27)."""
        if ai < 24:
            return ai
        d = self.data
        p = self.pos
        if ai == 24:
            self.need(1)
            self.pos = p + 1
            return d[p]
        if ai == 25:
            self.need(2)
            self.pos = p + 2
            return (d[p] << 8) | d[p + 1]
        k = 4 if ai == 26 else 8
        self.need(k)
        v = 0
        for i in range(k):
            v = (v << 8) | d[p + i]
        self.pos = p + k
        return v

    def item(self, depth, brk=False):
        if depth > MAX_DEPTH:
            self.fail("nested deeper than %d" % MAX_DEPTH)
        self.need(1)
        start = self.pos
        ib = self.data[start]
        self.pos = start + 1
        major = ib >> 5
        ai = ib & 0x1F
        if ai == 31:
            if major == 7:
                if brk:
                    return _BREAK
                self.fail("break (0xff) outside an indefinite-length item", start)
            if major < 2 or major == 6:
                self.fail("indefinite length for major type %d" % major, start)
            return self.indefinite(major, depth)
        if 27 < ai:
            self.fail("reserved additional information %d" % ai, start)
        if major == 7:
            return self.simple(ai, start)
        v = self.arg(ai)
        if major == 0:
            return v
        if major == 1:
            return -1 - v
        if major == 2:
            return self.take(v)
        if major == 3:
            return self.text(self.take(v), start)
        if major == 4:
            self.need(v)  # every element takes at least one byte
            out = []
            for _ in range(v):
                out.append(self.item(depth + 1))
            return out
        if major == 5:
            self.need(v)
            out = {}
            for _ in range(v):
                k = self.item(depth + 1)
                self.put(out, k, self.item(depth + 1), start)
            return out
        return self.tag(v, depth, start)

    def text(self, b, at):
        try:
            return str(b, "utf-8")
        except UnicodeError:
            self.fail("invalid UTF-8 in a text string", at)

    def put(self, out, k, v, at):
        try:
            out[k] = v
        except TypeError:
            self.fail("map key of type %s cannot be a Python dict key" % type(k).__name__, at)

    def indefinite(self, major, depth):
        if major == 4:
            out = []
            while True:
                x = self.item(depth + 1, True)
                if x is _BREAK:
                    return out
                out.append(x)
        if major == 5:
            out = {}
            while True:
                at = self.pos
                k = self.item(depth + 1, True)
                if k is _BREAK:
                    return out
                self.put(out, k, self.item(depth + 1), at)
        chunks = []
        while True:
            self.need(1)
            at = self.pos
            ib = self.data[at]
            if ib == 0xFF:
                self.pos = at + 1
                break
            if ib >> 5 != major or (ib & 0x1F) > 27:
                self.fail("chunk of an indefinite string is not a definite string of the same type", at)
            self.pos = at + 1
            chunks.append(self.take(self.arg(ib & 0x1F)))
        b = b"".join(chunks)
        return b if major == 2 else self.text(b, at)

    def tag(self, tag, depth, at):
        v = self.item(depth + 1)
        if tag == 2 or tag == 3:
            if not isinstance(v, bytes):
                self.fail("bignum tag %d needs a byte string" % tag, at)
            try:
                n = int.from_bytes(v, "big")
            except (OverflowError, ValueError, MemoryError):
                self.fail("bignum of %d bytes does not fit this interpreter's int" % len(v), at)
            return n if tag == 2 else -1 - n
        return CBORTag(tag, v)

    def simple(self, ai, at):
        if ai < 20:
            return CBORSimpleValue(ai)
        if ai == 20:
            return False
        if ai == 21:
            return True
        if ai == 22:
            return None
        if ai == 23:
            return undefined
        if ai == 24:
            self.need(1)
            v = self.data[self.pos]
            self.pos += 1
            if v < 32:
                self.fail("simple value %d in two-byte form (must be >= 32)" % v, at)
            return CBORSimpleValue(v)
        d = self.data
        p = self.pos
        if ai == 25:
            self.need(2)
            self.pos = p + 2
            return _half(d[p], d[p + 1])
        if ai == 26:
            self.need(4)
            self.pos = p + 4
            return struct.unpack_from(">f", d, p)[0]
        self.need(8)
        self.pos = p + 8
        return struct.unpack_from(">d", d, p)[0]


def _half(hi, lo):
    e = (hi >> 2) & 0x1F
    m = ((hi & 0x03) << 8) | lo
    if e == 0:
        v = m * 5.960464477539063e-08  # 2**-24
    elif e == 31:
        v = float("nan") if m else float("inf")
    else:
        v = (m + 1024) * (2.0 ** (e - 25))
    return -v if hi & 0x80 else v


def loads(data, start=0, end=-1):
    """The one item encoded in ``data[start:end]``; raises ``CBORDecodeError`` if malformed,
    unsupported by this interpreter, or followed by extra bytes."""
    if end < 0:
        end = len(data)
    dec = _Decoder(data, start, end)
    try:
        obj = dec.item(0)
    except CBORDecodeError:
        raise
    except (OverflowError, MemoryError, RuntimeError) as e:  # no long ints, no memory, recursion
        raise CBORDecodeError("cannot hold the value at byte %d: %s" % (dec.pos, e))
    if dec.pos != end:
        raise CBORDecodeError("%d bytes after the item, at byte %d" % (end - dec.pos, dec.pos))
    return obj
