"""Arrays between a device and the fabric (PROTOCOL.md, "Arrays"; docs/arrays.md, "From and to a board").

A board publishes an ``array.array`` as an RFC 8746 typed array: the element type's tag over the bytes (one
dimension, little-endian on every board). A field that carries one is described with an array type,
``"["``, the element's kind and size (``"[i2"``: int16). The bridge checks it against the DESCRIBE and hands
the fabric its own inline array form (:mod:`ether_medium.fabric.arrays`: tag 40 over ``[shape, typed
array]``), so a subscriber receives a read-only ndarray of that dtype, validated, recorded and exported like
any host array. Nothing here needs numpy: the typed array's bytes are passed on as they came.

The other way, what host code sends a device subscriber becomes the typed array the board reads as an
``array.array``: an ndarray (or the fabric's form of one) of the field's element type, one-dimensional, or
a list of numbers, packed to the field's element type. A field of any type (``"a"``) or a subscriber with
no described fields (one keyword map) gets arrays in their own element type.
"""

from __future__ import annotations

import array
import struct
from typing import Any

from cbor2 import CBORTag

from ether_lite import framing, protocol

__all__ = ["ARRAY_NAMES", "MULTI_TAG", "from_device", "from_device_any", "to_device", "to_device_map"]

MULTI_TAG = 40  # RFC 8746 multi-dimensional array: the fabric's inline form (ether_medium.fabric.arrays)

# DESCRIBE array type -> numpy's name of its element type, and the struct format of one element
_ELEMENTS = {
    "[u1": ("uint8", "B"), "[i1": ("int8", "b"), "[u2": ("uint16", "H"), "[i2": ("int16", "h"),
    "[u4": ("uint32", "I"), "[i4": ("int32", "i"), "[u8": ("uint64", "Q"), "[i8": ("int64", "q"),
    "[f4": ("float32", "f"), "[f8": ("float64", "d"),
}
ARRAY_NAMES = {t: name + "[]" for t, (name, _) in _ELEMENTS.items()}  # for signatures: "int16[]"
_TAGS = {t: protocol.array_tags(t) for t in protocol.ARRAY_TYPES}  # the tags a value of each type may have
# every typed-array tag a device may send: (its DESCRIBE type, little-endian?)
_TYPE_OF_TAG = {tag: (t, i == 0) for t, tags in _TAGS.items() for i, tag in enumerate(tags)}


def _shown(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def from_device(name: str, ftype: str, v: Any) -> CBORTag:
    """A PUB value of field ``name``, described as array type ``ftype``, in the fabric's inline form;
    ValueError when it is not a typed array of that type."""
    size = int(ftype[2])
    if (type(v) is not CBORTag or v.tag not in _TAGS[ftype] or type(v.value) is not bytes
            or len(v.value) % size):
        raise ValueError(f"field {name!r} is described as {ARRAY_NAMES[ftype]}, got {_shown(v)}")
    return CBORTag(MULTI_TAG, [[len(v.value) // size], v])


def from_device_any(v: Any) -> Any:
    """A PUB value of a field of any type: a typed array in the fabric's inline form, the rest as it is."""
    if type(v) is CBORTag and v.tag in _TYPE_OF_TAG and type(v.value) is bytes:
        size = int(_TYPE_OF_TAG[v.tag][0][2])
        if len(v.value) % size == 0:
            return CBORTag(MULTI_TAG, [[len(v.value) // size], v])
    return v


def to_device(value: Any, ftype: str | None) -> Any:
    """``value`` as a device reads it. For a field of array type ``ftype``: a one-dimensional array of that
    element type, or a list of numbers packed to it. For ``ftype`` None (a field of any type): arrays keep
    their element type, other values stay as they are. ValueError says why a value cannot go."""
    if type(value) is not CBORTag and type(value).__module__ == "numpy" and hasattr(value, "dtype"):
        from ether_medium.fabric.arrays import to_wire  # an ndarray: numpy is loaded already

        value = to_wire(value)
    if type(value) is CBORTag:
        t, data = _typed(value)
        if ftype is not None and t != ftype:
            want, got = _ELEMENTS[ftype][0], _ELEMENTS[t][0]
            raise ValueError(f"an array of {got} for a field of {want}[]: convert it (arr.astype({want!r}))")
        return CBORTag(protocol.ARRAY_TAGS[t], data)
    if ftype is None:
        return value
    name, fmt = _ELEMENTS[ftype]
    if not isinstance(value, list | tuple):
        raise ValueError(f"expected {name}[] (a one-dimensional array, or a list of numbers), "
                         f"got {_shown(value)}")
    try:
        return CBORTag(protocol.ARRAY_TAGS[ftype], struct.pack(f"<{len(value)}{fmt}", *value))
    except struct.error as exc:
        raise ValueError(f"a list that does not fit {name}[] ({exc}): {_shown(value)}") from None


def to_device_map(data: dict[str, Any]) -> dict[str, Any]:
    """The keyword map of a subscriber with no described fields, its arrays as a device reads them."""
    return {k: to_device(v, None) for k, v in data.items()}


def _typed(value: CBORTag) -> tuple[str, bytes]:
    """``(array type, little-endian bytes)`` of an array item (the fabric's inline form, or a typed array)."""
    if value.tag == MULTI_TAG:
        body = value.value
        if not (isinstance(body, list | tuple) and len(body) == 2 and type(body[1]) is CBORTag):
            raise ValueError(f"not an array the fabric makes: {_shown(value)}")
        shape, value = body
        if not (isinstance(shape, list | tuple) and len(shape) == 1):
            raise ValueError(f"a device takes one-dimensional arrays, got shape {tuple(shape)}: "
                             "flatten it (arr.ravel())")
    known = _TYPE_OF_TAG.get(value.tag)
    if known is None or type(value.value) is not bytes:
        from ether_medium.fabric.shm import SHM_TAG

        if value.tag == SHM_TAG:
            raise ValueError("an array large enough to travel through shared memory does not fit a device's "
                             f"frames (at most {framing.MAX_BODY} bytes)")
        raise ValueError(f"an array whose elements a device cannot hold (tag {value.tag}): use an integer "
                         "or float32/float64 dtype")
    t, little = known
    data = value.value
    if len(data) % int(t[2]):
        raise ValueError(f"{len(data)} bytes are not whole {_ELEMENTS[t][0]} elements")
    if not little:  # a big-endian array (numpy's ">i2"): each element's bytes reversed for the device
        swapped = array.array(_ELEMENTS[t][1], data)
        swapped.byteswap()
        data = swapped.tobytes()
    return t, data
