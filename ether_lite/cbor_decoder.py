"""The CBOR decoder of a device (RFC 8949; PROTOCOL.md, "CBOR rules"): ``loads(data, start, end)``.

``Decoder`` reads what a host sends a device: integers, floats of any width, text, bytes, arrays, maps,
false/true/null, and little-endian typed arrays (RFC 8746) as ``array.array`` (``ether_lite.typed``, loaded
for the first one). Any other item (indefinite length, another tag, simple value, undefined) goes to
``other()``, which here rejects it; ``ether_lite.cbor`` (the full codec the host and the tests use) extends
``Decoder`` with those items. Anything malformed raises ``CBORDecodeError`` (a ``ValueError``), and no
length is used to allocate before the bytes it claims are present.

A board does not keep this module: ``ether_lite.node`` reads the messages a host sends all the time (PING,
QUERY) from their bytes, and imports this one for the others (a DELIVER: someone acted) and drops it again.
"""

import struct

from ether_lite.cbor_core import CBORDecodeError

try:
    from micropython import const
except ImportError:  # CPython: every const here is an int
    const = int


MAX_DEPTH = const(24)  # nesting of arrays/maps/tags the decoder follows


class Decoder:
    """Decodes ``data[pos:end]``, one item per ``item()``."""

    def __init__(self, data, pos, end):
        self.d = data
        self.pos = pos
        self.end = end

    def fail(self, what, at):
        raise CBORDecodeError("%s at byte %d" % (what, at))

    def need(self, k):
        """Claim ``k`` more bytes; return where they start."""
        p = self.pos
        if k > self.end - p:
            self.fail("%d bytes claimed, %d present" % (k, self.end - p), p)
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

    def item(self, depth, brk=False):
        """The next item; ``brk``: a break (0xff) may end the enclosing indefinite-length item here."""
        at = self.need(1)
        if depth > MAX_DEPTH:
            self.fail("nested deeper than %d" % MAX_DEPTH, at)
        ib = self.d[at]
        major = ib >> 5
        ai = ib & 0x1F
        if ai > 27 or major == 6 or (major == 7 and ai < 25 and not 19 < ai < 23):
            return self.other(ib, depth, at, brk)
        if major == 7:
            if ai < 23:
                return (False, True, None)[ai - 20]
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
            p = self.need(v)
            return self.string(bytes(self.d[p : p + v]), major, at)
        if v > self.end - self.pos:  # every element takes at least one byte
            self.need(v)
        out = [] if major == 4 else {}
        for _ in range(v):
            x = self.item(depth + 1)
            if major == 4:
                out.append(x)
            else:
                out[x] = self.item(depth + 1)  # an unhashable key raises TypeError: see loads()
        return out

    def other(self, ib, depth, at, brk):
        """A typed array (RFC 8746) as an ``array.array`` (``ether_lite.typed``, loaded for it); any other
        item here (indefinite length, another tag, simple value, reserved) is not decoded on a device
        (``ether_lite.cbor.Decoder`` decodes them)."""
        if ib >> 5 == 6 and ib & 0x1F < 28:
            from ether_lite import typed

            return typed.decode(self, self.arg(ib & 0x1F), depth, at)
        self.fail("item 0x%02x (indefinite length, tag, simple value or reserved) is not decoded on a device" % ib, at)

    def string(self, b, major, at):
        """``b`` as bytes (major 2) or as text (major 3)."""
        if major == 2:
            return b
        try:
            return str(b, "utf-8")
        except UnicodeError:
            self.fail("invalid UTF-8 in a text string", at)


def loads(data, start=0, end=-1, decoder=Decoder):
    """The one item encoded in ``data[start:end]``; raises ``CBORDecodeError`` if it is malformed,
    cannot be held by this interpreter, or is followed by extra bytes."""
    if end < 0:
        end = len(data)
    dec = decoder(data, start, end)
    try:
        obj = dec.item(0)
    except CBORDecodeError:
        raise
    except (OverflowError, MemoryError, RuntimeError, TypeError) as e:  # no long ints, no memory, recursion,
        raise CBORDecodeError("cannot hold the value at byte %d: %s" % (dec.pos, e))  # a map key Python cannot hash
    if dec.pos != end:
        raise CBORDecodeError("%d bytes after the item, at byte %d" % (end - dec.pos, dec.pos))
    return obj
