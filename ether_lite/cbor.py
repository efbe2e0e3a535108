"""A small CBOR codec (RFC 8949) for boards: ``dumps(obj) -> bytes``, ``loads(data) -> obj``.

Encoding is the preferred serialisation (PROTOCOL.md, "CBOR rules"): shortest integer heads, definite
lengths, each float in the shortest of half/single/double precision that holds it exactly, and map keys
sorted length-first: exactly what ``cbor2.dumps(obj, canonical=True)`` produces for the same value.
``Encoder`` writes into a preallocated buffer, so a reading is encoded without allocation.

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


class _Undefined:
    pass


undefined = _Undefined()  # CBOR undefined (0xf7)


class Encoder:
    """Encodes into ``buf`` at ``n``. With ``grow=False`` (device) ints, floats, bools, None, bytes and
    arrays of them are written without allocation; a full ``buf`` raises ``CBOREncodeError``."""

    def __init__(self, buf, grow=False):
        self.buf = buf
        self.n = 0
        self.grow = grow
        self._f = bytearray(8)

    def _room(self, k):
        n = self.n
        if n + k > len(self.buf):
            if not self.grow:
                raise CBOREncodeError("encoding exceeds the %d-byte buffer" % len(self.buf))
            self.buf.extend(bytearray(k + len(self.buf)))
        return n

    def _put(self, first, v, k):
        """Write byte ``first`` and ``v`` as ``k`` big-endian bytes."""
        n = self._room(k + 1)
        buf = self.buf
        buf[n] = first
        for i in range(k):
            buf[n + k - i] = (v >> (8 * i)) & 0xFF
        self.n = n + k + 1

    def head(self, major, v):
        """An item head: major type 0..7 and argument ``v`` >= 0, in its shortest form."""
        if v < 24:
            self._put(major << 5 | v, 0, 0)
        elif v >> 8 == 0:
            self._put(major << 5 | 24, v, 1)
        elif v >> 16 == 0:
            self._put(major << 5 | 25, v, 2)
        elif v >> 32 == 0:
            self._put(major << 5 | 26, v, 4)
        else:
            self._put(major << 5 | 27, v, 8)

    def raw(self, data):
        k = len(data)
        n = self._room(k)
        self.buf[n : n + k] = data
        self.n = n + k

    def encode(self, obj):
        if obj is None or obj is True or obj is False:
            self._put(0xF6 if obj is None else 0xF5 if obj else 0xF4, 0, 0)
        elif isinstance(obj, int):
            major = 0
            if obj < 0:
                major = 1
                obj = -1 - obj
            if obj >> 64 == 0:
                self.head(major, obj)
            else:  # bignum: tag 2 (positive) or 3 (negative) over the big-endian magnitude
                k = 0
                t = obj
                while t:
                    t >>= 8
                    k += 1
                self.head(6, 2 + major)
                self.head(2, k)
                self.raw(obj.to_bytes(k, "big"))
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
            self._map(obj)
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
            raise CBOREncodeError("cannot encode %s as CBOR: %r" % (type(obj).__name__, obj))

    def _map(self, d):
        """Keys in canonical order (shorter encoded key first, then bytewise), as cbor2 canonical=True,
        so a map encodes the same whatever the interpreter's dict order. (Its own method: a
        comprehension inside encode() would make encode allocate a closure cell on every call.)"""
        items = [(len(k), k, d[key]) for key in d for k in (dumps(key),)]
        items.sort()  # keys are unique, so values are never compared
        self.head(5, len(items))
        for _, k, v in items:
            self.raw(k)
            self.encode(v)

    def float(self, x):
        """Shortest exact width, found from the bits of the double, without allocating."""
        f = self._f
        struct.pack_into(">d", f, 0, x)
        sign = f[0] & 0x80
        e = (f[0] & 0x7F) << 4 | f[1] >> 4
        m_hi = (f[1] & 0x0F) | f[2] | f[3] | f[4]
        low29 = f[7] | f[6] | f[5] | (f[4] & 0x1F)
        if e == 0x7FF:  # infinity, or NaN as the canonical 7e00
            self._put(0xF9, 0x7E00 if m_hi | low29 else (sign | 0x7C) << 8, 2)
            return
        if e == 0 and not m_hi | low29:  # +-0.0
            self._put(0xF9, sign << 8, 2)
            return
        ex = e - 1023
        if not low29 | f[4] | f[3] | (f[2] & 0x03) and -25 < ex < 16:
            m10 = (f[1] & 0x0F) << 6 | f[2] >> 2
            if ex >= -14:
                self._put(0xF9, (sign | (ex + 15) << 2) << 8 | m10, 2)
                return
            top = m10 | 0x400  # half subnormal: the 11-bit significand shifted right
            sh = -14 - ex
            if not top & ((1 << sh) - 1):
                self._put(0xF9, sign << 8 | top >> sh, 2)
                return
        if not low29 and -127 < ex < 128:
            be = ex + 127
            n = self._room(5)
            b = self.buf
            b[n] = 0xFA
            b[n + 1] = sign | be >> 1
            b[n + 2] = (be & 1) << 7 | (f[1] & 0x0F) << 3 | f[2] >> 5
            b[n + 3] = (f[2] & 0x1F) << 3 | f[3] >> 5
            b[n + 4] = (f[3] & 0x1F) << 3 | f[4] >> 5
            self.n = n + 5
            return
        if -150 < ex <= -127 and struct.unpack(">f", struct.pack(">f", x))[0] == x:
            self.raw(b"\xfa" + struct.pack(">f", x))  # single-precision subnormal (rare)
            return
        self._put(0xFB, 0, 0)
        self.raw(f)


def dumps(obj):
    """The CBOR encoding of ``obj`` as ``bytes``."""
    enc = Encoder(bytearray(32), True)
    enc.encode(obj)
    return bytes(enc.buf[: enc.n])


_BREAK = _Undefined()  # the 0xff marker inside indefinite-length items


class _Decoder:
    def __init__(self, data, pos, end):
        self.d = data
        self.pos = pos
        self.end = end

    def fail(self, what, at):
        raise CBORDecodeError("%s at byte %d" % (what, at))

    def need(self, k):
        if k > self.end - self.pos:
            self.fail("%d bytes claimed, %d present" % (k, self.end - self.pos), self.pos)
        p = self.pos
        self.pos = p + k
        return p

    def arg(self, ai):
        """The argument of a head with additional information ``ai`` (0..27)."""
        if ai < 24:
            return ai
        k = 1 << (ai - 24)
        p = self.need(k)
        v = 0
        for i in range(p, p + k):
            v = v << 8 | self.d[i]
        return v

    def string(self, k, major, at):
        p = self.need(k)
        return self.string_of(bytes(self.d[p : p + k]), major, at)

    def item(self, depth, brk=False):
        at = self.need(1)
        if depth > MAX_DEPTH:
            self.fail("nested deeper than %d" % MAX_DEPTH, at)
        ib = self.d[at]
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
                    parts.append(self.string(self.arg(cb & 0x1F), 2, p))
                return self.string_of(b"".join(parts), major, at)
            if major in (4, 5):
                out = [] if major == 4 else {}
                while True:
                    x = self.item(depth + 1, True)
                    if x is _BREAK:
                        return out
                    if major == 4:
                        out.append(x)
                    else:
                        self.put(out, x, self.item(depth + 1), at)
            self.fail("indefinite length or break with major type %d" % major, at)
        if ai > 27:
            self.fail("reserved additional information %d" % ai, at)
        if major == 7:
            if ai < 20:
                return CBORSimpleValue(ai)
            if ai < 24:
                return (False, True, None, undefined)[ai - 20]
            if ai == 24:
                v = self.d[self.need(1)]
                if v < 32:
                    self.fail("simple value %d in two-byte form" % v, at)
                return CBORSimpleValue(v)
            if ai == 25:
                p = self.need(2)
                hi = self.d[p]
                e = hi >> 2 & 0x1F
                m = (hi & 0x03) << 8 | self.d[p + 1]
                if e == 31:
                    v = float("nan") if m else float("inf")
                elif e:
                    v = (m + 1024) * 2.0 ** (e - 25)
                else:
                    v = m * 5.960464477539063e-08  # 2**-24
                return -v if hi & 0x80 else v
            p = self.need(4 if ai == 26 else 8)
            return struct.unpack_from(">f" if ai == 26 else ">d", self.d, p)[0]
        v = self.arg(ai)
        if major == 0:
            return v
        if major == 1:
            return -1 - v
        if major < 4:
            return self.string(v, major, at)
        if major < 6:
            if v > self.end - self.pos:  # every element takes at least one byte
                self.need(v)
            out = [] if major == 4 else {}
            for _ in range(v):
                x = self.item(depth + 1)
                if major == 4:
                    out.append(x)
                else:
                    self.put(out, x, self.item(depth + 1), at)
            return out
        x = self.item(depth + 1)
        if v == 2 or v == 3:
            if not isinstance(x, bytes):
                self.fail("bignum tag %d needs a byte string" % v, at)
            n = int.from_bytes(x, "big")  # OverflowError without long ints: see loads()
            return n if v == 2 else -1 - n
        return CBORTag(v, x)

    def string_of(self, b, major, at):
        if major == 2:
            return b
        try:
            return str(b, "utf-8")
        except UnicodeError:
            self.fail("invalid UTF-8 in a text string", at)

    def put(self, out, k, v, at):
        try:
            out[k] = v
        except TypeError:
            self.fail("map key of type %s cannot be a dict key" % type(k).__name__, at)


def loads(data, start=0, end=-1):
    """The one item encoded in ``data[start:end]``; raises ``CBORDecodeError`` if it is malformed,
    cannot be held by this interpreter, or is followed by extra bytes."""
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
