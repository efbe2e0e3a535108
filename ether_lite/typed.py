"""Arrays on a device (PROTOCOL.md, "Arrays"): an ``array.array`` a board publishes is written as an RFC 8746
typed array, its tag (the element type and byte order) over its bytes as they are in memory; a typed array
in a DELIVER is read as an ``array.array``.

Only a board that publishes or receives an array loads this module: ``ether_lite.cbor_core.Encoder.other``
and ``ether_lite.cbor_decoder.Decoder.other`` import it for the first one, and it stays (each such PUB
needs it), as does a declared array field (``ether_lite.startup``) and the first reading of an array
(``ether_lite.fields``). A board without arrays never loads it, nor interns its names (MicroPython keeps
interned names for good).

A PUB of an array allocates one copy of its bytes (``bytes(arr)``: MicroPython's memoryview has no
``cast``), at most the 245 bytes of data a frame holds.
"""

import struct
import sys

_LITTLE = sys.byteorder == "little"
_CODES = "bBhHiIlLqQfd"  # array typecodes with a typed array


def typecode(arr):
    """The ``array`` typecode of ``arr`` (MicroPython's and CircuitPython's arrays have no ``typecode``:
    the repr of an empty slice, ``array('h')``, names it)."""
    tc = getattr(arr, "typecode", None)
    return tc if tc else repr(arr[:0])[7]


def tag(tc, little=_LITTLE):
    """The RFC 8746 tag of typed arrays of ``array`` typecode ``tc``, in this machine's byte order unless
    ``little`` says which: 64 + 16 float + 8 signed + 4 little-endian (not for one byte) + log2 of the
    size (floats: less one)."""
    n = struct.calcsize(tc)
    if tc in "fd":
        return (84 if little else 80) + (n >> 2)
    return 64 + (8 if tc in "bhilq" else 0) + (4 if little and n > 1 else 0) + (n >> 1) - (n >> 3)


def field_type(tc):
    """The DESCRIBE type of arrays of ``array`` typecode ``tc`` (``"h"``: ``"[i2"``), or None when it has no
    typed array: ``"["``, the element's kind (``i`` signed, ``u`` unsigned, ``f`` float) and its size in
    bytes, which for ``l``, ``L`` (and on some ports ``i``) differs between machines."""
    if len(tc) != 1 or tc not in _CODES:
        return None
    return "[%s%d" % ("f" if tc in "fd" else "i" if tc in "bhilq" else "u", struct.calcsize(tc))


def declared(t):
    """A declared array field type (``fields=``) as DESCRIBE spells it: ``"["`` and an ``array`` typecode
    (``"[h"``) or an array type (``"[i2"``) gives the array type; None for anything else."""
    if t[:1] != "[":
        return None
    if len(t) == 2:
        return field_type(t[1])
    for tc in _CODES:
        if field_type(tc) == t:
            return t
    return None


def encode(enc, arr):
    """Write ``arr`` (an ``array.array``) with ``enc``: its tag, then its bytes as one byte string. False,
    writing nothing, when no typed array has its typecode (the encoder then raises ``CBOREncodeError``)."""
    tc = typecode(arr)
    if tc not in _CODES:
        return False
    data = bytes(arr)
    enc.head(6, tag(tc))
    enc.head(2, len(data))
    enc.raw(data)
    return True


def decode(dec, t, depth, at):
    """The typed array of tag ``t`` whose content follows in ``dec`` (an ``ether_lite.cbor_decoder.Decoder``)
    as an ``array.array``; ``dec.fail()`` for a tag of no little-endian typed array (what hosts send),
    content that is not whole elements, or elements this port cannot hold."""
    for tc in _CODES:
        if tag(tc, True) == t:
            break
    else:
        dec.fail("tag %d: not a typed array here" % t, at)
    b = dec.item(depth + 1)
    if not isinstance(b, bytes) or len(b) % struct.calcsize(tc):
        dec.fail("typed array %d: not whole elements" % t, at)
    try:
        import array

        a = array.array(tc, b)
    except (ImportError, ValueError):  # no array module, or no 64-bit elements, on this port
        dec.fail("typed array %d: not on this port" % t, at)
    if not _LITTLE:
        a.byteswap()
    return a
