"""The CBOR a device writes (RFC 8949; PROTOCOL.md, "CBOR rules"), and the codec's two errors: what a
board keeps loaded, nothing more.

``Encoder`` writes the preferred serialisation into a fixed, preallocated buffer (shortest integer heads,
definite lengths, each float in the shortest of half/single/double precision that holds it exactly, map
keys sorted length-first), so a reading is encoded without allocation; an ``array.array`` becomes an RFC 8746
typed array (``ether_lite.typed``, loaded only by a board that publishes one). ``ether_lite.cbor`` (the full codec
the host and the tests use) extends it with bignums, tags and simple values.

Reading is ``ether_lite.cbor_decoder``'s. A board loads it only for the messages a Node does not read
straight from their bytes (a DELIVER, anything unusual), and drops it again: RAM is a SAMD21's scarcest resource.
"""

import struct

try:
    from micropython import const
except ImportError:  # CPython: every const here is an int
    const = int


class CBORDecodeError(ValueError):
    """Malformed or unsupported CBOR; the message says what and at which byte offset."""


class CBOREncodeError(ValueError):
    """A value with no CBOR form, or an encoding that does not fit the buffer."""


class Encoder:
    """Encodes into ``buf`` at ``n``: ints, floats, bools, None, bytes and arrays of them are written
    without allocation; a full ``buf`` raises ``CBOREncodeError``."""

    def __init__(self, buf):
        self.buf = buf
        self.n = 0
        self._f = bytearray(8)

    def _room(self, k):
        """Where ``k`` more bytes go."""
        n = self.n
        if n + k > len(self.buf):
            raise CBOREncodeError("encoding exceeds the %d-byte buffer" % len(self.buf))
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
            if obj >> 64:  # a bignum: ether_lite.cbor encodes it
                self.other(-1 - obj if major else obj)
            else:
                self.head(major, obj)
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
        else:
            self.other(obj)

    def other(self, obj):
        """An ``array.array`` (``ether_lite.typed``, loaded for the first one), or a value the device codec
        has no form for (``ether_lite.cbor`` adds bignums, tags, ...)."""
        if type(obj).__name__ == "array":
            from ether_lite import typed

            if typed.encode(self, obj):
                return
        raise CBOREncodeError("cannot encode %s as CBOR: %r" % (type(obj).__name__, obj))

    def _map(self, d):
        """Keys in canonical order (shorter encoded key first, then bytewise), as cbor2 canonical=True,
        so a map encodes the same whatever the interpreter's dict order. (Its own method: a
        comprehension inside encode() would make encode allocate a closure cell on every call.)"""
        start = self.n
        items = []
        for key in d:  # each key is encoded where the map will go, and copied out
            self.n = start
            self.encode(key)
            items.append((self.n - start, bytes(self.buf[start : self.n]), d[key]))
        self.n = start
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
            return self._put(0xF9, 0x7E00 if m_hi | low29 else (sign | 0x7C) << 8, 2)
        if e == 0 and not m_hi | low29:  # +-0.0
            return self._put(0xF9, sign << 8, 2)
        ex = e - 1023
        if not low29 | f[4] | f[3] | (f[2] & 0x03) and -25 < ex < 16:
            m10 = (f[1] & 0x0F) << 6 | f[2] >> 2
            if ex >= -14:
                return self._put(0xF9, (sign | (ex + 15) << 2) << 8 | m10, 2)
            top = m10 | 0x400  # half subnormal: the 11-bit significand shifted right
            sh = -14 - ex
            if not top & ((1 << sh) - 1):
                return self._put(0xF9, sign << 8 | top >> sh, 2)
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
        elif -150 < ex <= -127 and struct.unpack(">f", struct.pack(">f", x))[0] == x:
            self.raw(b"\xfa" + struct.pack(">f", x))  # single-precision subnormal (rare)
        else:
            self._put(0xFB, 0, 0)
            self.raw(f)
