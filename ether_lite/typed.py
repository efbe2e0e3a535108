"""Arrays in what a device publishes: an ``array.array`` value is written as an RFC 8746 typed array, its
tag (the element type and byte order) over its bytes as they are in memory (PROTOCOL.md, "Arrays").

Only a board that publishes an array loads this module: ``ether_lite.cbor_core.Encoder.other`` imports it
for the first one, and it stays (it is what each such PUB needs). Describing arrays (``ether_lite.fields``)
and reading them in a DELIVER (``ether_lite.cbor_decoder``) live in the modules loaded for the occasion.

A PUB of an array allocates one copy of its bytes (``bytes(arr)``: MicroPython's memoryview has no
``cast``), at most the 245 bytes of data a frame holds.
"""

import struct
import sys

from ether_lite.cbor_core import CBOREncodeError

_LITTLE = sys.byteorder == "little"


def typecode(arr):
    """The ``array`` typecode of ``arr`` (MicroPython's and CircuitPython's arrays have no ``typecode``:
    the repr of an empty slice, ``array('h')``, names it)."""
    tc = getattr(arr, "typecode", None)
    return tc if tc else repr(arr[:0])[7]


def tag(tc):
    """The RFC 8746 tag of typed arrays of ``array`` typecode ``tc`` in this machine's byte order:
    64 + 16 float + 8 signed + 4 little-endian (not for one byte) + log2 of the size (floats: less one)."""
    n = struct.calcsize(tc)
    if tc in "fd":
        return (84 if _LITTLE else 80) + (n >> 2)
    return 64 + (8 if tc in "bhilq" else 0) + (4 if _LITTLE and n > 1 else 0) + (n >> 1) - (n >> 3)


def encode(enc, arr):
    """Write ``arr`` (an ``array.array``) with ``enc``: its tag, then its bytes as one byte string."""
    tc = typecode(arr)
    if tc not in "bBhHiIlLqQfd":
        raise CBOREncodeError("cannot encode array('%s') as CBOR: no typed array of that type" % tc)
    data = bytes(arr)
    enc.head(6, tag(tc))
    enc.head(2, len(data))
    enc.raw(data)
