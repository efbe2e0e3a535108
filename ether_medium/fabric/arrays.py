"""Arrays as message fields: a publisher returns numpy arrays, a subscriber receives read-only ndarrays.

Publishing: ``return {"frame": img, "exposure_s": 0.01}`` from an ``ether_pub`` method. Each top-level field
whose value is an ndarray travels with its dtype and shape:

* inline, as RFC 8746 CBOR: tag 40 (multi-dimensional array, row-major) over ``[shape, typed array]``, the
  typed array being the element type's tag (64-87, e.g. 85 for little-endian float32) over the bytes. Dtypes
  RFC 8746 has no tag for (bool, complex) use tag :data:`OTHER_TAG` over ``[dtype.str, bytes]`` in its place.
  This is how arrays cross machines, and how small arrays always go;
* through shared memory (:mod:`ether_medium.fabric.shm`), on a fabric whose processes all run on this machine,
  for arrays of at least :func:`shm_threshold` bytes: the message carries a small descriptor (tag
  :data:`~ether_medium.fabric.shm.SHM_TAG`), the bytes go into a slot of the publisher's ring.

NumPy scalars (``np.float32(1.5)``) in fields, also inside maps and lists, are published as plain numbers.
Arrays travel as top-level fields only: one inside a map or list raises :class:`ArrayError` naming where it
is (its dtype and shape, shared memory, recording and export are per field); publish it as a field of its
own.

Receiving: a subscriber parameter annotated ``numpy.ndarray`` (or not annotated) receives an ndarray; one
annotated :data:`Array` ``[dtype, shape]`` (or ``Annotated[np.ndarray, ArraySpec(dtype, shape)]``) also has
the dtype and shape checked, and a mismatch rejects the message with the field and the reason. The array
is **read-only and valid during the call only**: writing to it raises ``ValueError``, and an array that
came through shared memory lives in a buffer the next message reuses. To keep one, keep ``arr.copy()``.

An array read from shared memory whose slot the publisher overwrote before (or while) it was read is never
handed over torn: the message is dropped for that subscriber (:class:`ArrayDropped`, a
:class:`~ether_medium.errors.MessageRejected`: folded in the log and counted per subscriber on
``Ether.health`` like every rejection, and in :data:`ether_medium.fabric.shm.dropped` per process).
"""

from __future__ import annotations

import math
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from cbor2 import CBORTag
from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from ether_medium.errors import ArrayDropped, ArrayError
from ether_medium.fabric.dtypes import check_dtype, parse_dtype, parse_shape

if TYPE_CHECKING:
    from ether_medium.fabric.client import FabricClient

__all__ = [
    "MULTI_TAG",
    "OTHER_TAG",
    "Array",
    "ArrayDropped",
    "ArrayError",
    "ArraySpec",
    "from_wire",
    "incoming",
    "is_array_tag",
    "loan_array",
    "outgoing",
    "publish_with_arrays",
    "shm_threshold",
    "to_wire",
]

MULTI_TAG = 40  # RFC 8746: multi-dimensional array, row-major order: [shape, typed array]
OTHER_TAG = 59297  # Ether's own: [dtype.str, bytes] for element types RFC 8746 has no tag for

# RFC 8746 typed-array tags by numpy dtype string (byte order and size in the string)
_TYPED: dict[str, int] = {
    "|u1": 64, ">u2": 65, ">u4": 66, ">u8": 67, "<u2": 69, "<u4": 70, "<u8": 71,
    "|i1": 72, ">i2": 73, ">i4": 74, ">i8": 75, "<i2": 77, "<i4": 78, "<i8": 79,
    ">f2": 80, ">f4": 81, ">f8": 82, "<f2": 84, "<f4": 85, "<f8": 86,
}
_DTYPE_OF_TAG: dict[int, np.dtype[Any]] = {tag: np.dtype(s) for s, tag in _TYPED.items()}
_DEFAULT_THRESHOLD = 64 * 1024  # bytes; measured with bench/arrays.py (see docs/arrays.md)


def shm_threshold() -> int:
    """Arrays of at least this many bytes go through shared memory where it can be used
    (``ETHER_ARRAYS_SHM_BYTES``; ``0`` turns shared memory off)."""
    raw = os.environ.get("ETHER_ARRAYS_SHM_BYTES")
    if raw is None:
        return _DEFAULT_THRESHOLD
    try:
        return max(0, int(raw))
    except ValueError:
        return _DEFAULT_THRESHOLD


def to_wire(arr: np.ndarray[Any, Any], where: str = "array") -> CBORTag:
    """``arr`` as an inline CBOR item (tag 40 over shape and typed array; see the module docstring)."""
    check_dtype(arr.dtype, where)
    data = np.ascontiguousarray(arr).tobytes()
    tag = _TYPED.get(arr.dtype.str)
    typed = CBORTag(tag, data) if tag is not None else CBORTag(OTHER_TAG, [arr.dtype.str, data])
    return CBORTag(MULTI_TAG, [list(arr.shape), typed])


def is_array_tag(value: Any) -> bool:
    """Whether a decoded CBOR value is an array (inline or a shared-memory descriptor)."""
    from ether_medium.fabric.shm import SHM_TAG

    return type(value) is CBORTag and value.tag in (MULTI_TAG, SHM_TAG)


def from_wire(value: CBORTag, where: str = "array") -> np.ndarray[Any, Any]:
    """The read-only ndarray an array item stands for. Raises :class:`ArrayError` for an item that is not a
    well-formed array, :class:`ArrayDropped` for a shared-memory slot overwritten."""
    from ether_medium.fabric import shm

    if value.tag == shm.SHM_TAG:
        return shm.read(value.value, where)
    body = value.value
    if value.tag != MULTI_TAG or not isinstance(body, list | tuple) or len(body) != 2:
        raise ArrayError(f"{where}: not an array (CBOR tag {value.tag} over {type(body).__name__})")
    shape = parse_shape(body[0], where)
    typed = body[1]
    if type(typed) is not CBORTag:
        raise ArrayError(f"{where}: the array's elements are not a typed array")
    if typed.tag == OTHER_TAG and isinstance(typed.value, list | tuple) and len(typed.value) == 2:
        dtype, data = parse_dtype(typed.value[0], where), typed.value[1]
    elif typed.tag in _DTYPE_OF_TAG:
        dtype, data = _DTYPE_OF_TAG[typed.tag], typed.value
    else:
        raise ArrayError(f"{where}: typed-array tag {typed.tag} is not one Ether reads")
    if type(data) is not bytes:
        raise ArrayError(f"{where}: the array's elements are {type(data).__name__}, expected bytes")
    if math.prod(shape) * dtype.itemsize != len(data):
        raise ArrayError(f"{where}: {len(data)} bytes do not hold shape {shape} of {dtype}")
    return np.frombuffer(data, dtype).reshape(shape)  # over bytes: read-only


def outgoing(data: dict[str, Any], topic: str, shared: bool) -> dict[str, Any] | None:
    """``data`` with its ndarray (and numpy scalar) fields made publishable, or ``None`` when it has none.
    ``shared``: whether arrays over :func:`shm_threshold` may go through this process's shared-memory ring
    for ``topic``. Raises :class:`ArrayError` for an array that cannot be published."""
    out: dict[str, Any] | None = None
    threshold = shm_threshold() if shared else 0
    for key, value in data.items():
        if isinstance(value, np.ndarray):
            where = f"field {key!r}"
            if threshold and value.nbytes >= threshold:
                from ether_medium.fabric import shm

                check_dtype(value.dtype, where)
                item: Any = shm.put(topic, value)
                if item is None:  # every slot held by readers
                    item = to_wire(value, where)
            else:
                item = to_wire(value, where)
                if shared is False and "ether_medium.fabric.shm" in sys.modules:
                    sys.modules["ether_medium.fabric.shm"].forget_loan(value)  # a loaned slot sent inline
        elif isinstance(value, np.generic):
            item = value.item()
        elif isinstance(value, dict | list | tuple):
            item = _nested(value, key, f"field {key!r}")
            if item is value:
                continue
        else:
            continue
        if out is None:
            out = dict(data)
        out[key] = item
    return out


def _nested(value: Any, field: str, where: str, depth: int = 0) -> Any:
    """A map or list inside a field with its numpy scalars made plain numbers (``value`` itself when it has
    none). An ndarray in it raises :class:`ArrayError`: arrays travel as top-level fields only (their dtype
    and shape, shared memory, recording and export are per field)."""
    if depth > 32:
        return value  # (cbor2 says what is wrong with a structure this deep)
    items = value.items() if isinstance(value, dict) else enumerate(value)
    out: Any = None
    for k, v in items:
        at = f"{where}[{k!r}]"
        if isinstance(v, np.ndarray):
            raise ArrayError(
                f"{at} is an array inside a map or list: arrays travel as top-level fields only; publish it "
                f"as a field of its own (e.g. {field}_{k}: ...), see docs/arrays.md"
            )
        new = v.item() if isinstance(v, np.generic) else (
            _nested(v, field, at, depth + 1) if isinstance(v, dict | list | tuple) else v)
        if new is not v:
            if out is None:
                out = dict(value) if isinstance(value, dict) else list(value)
            out[k] = new
    if out is None:
        return value
    return tuple(out) if isinstance(value, tuple) else out


def incoming(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with each array item replaced by its read-only ndarray (``data`` itself when it has none).
    The shared-memory slots of the previous message's arrays are released first: their arrays were valid
    during that call only."""
    from ether_medium.fabric import shm

    shm.release()
    out: dict[str, Any] | None = None
    for key, value in data.items():
        if type(value) is CBORTag and is_array_tag(value):
            if out is None:
                out = dict(data)
            out[key] = from_wire(value, f"field {key!r}")
    return data if out is None else out


class ArraySpec:
    """The dtype and shape a subscriber's ndarray parameter requires (``None``: any; in ``shape``, ``None``
    or ``-1`` for a dimension of any size): ``Annotated[np.ndarray, ArraySpec("float32", (None, 3))]``."""

    def __init__(self, dtype: Any = None, shape: tuple[int | None, ...] | None = None) -> None:
        self.dtype = None if dtype is None else np.dtype(dtype)
        self.shape = None if shape is None else tuple(None if n in (None, -1) else int(n) for n in shape)

    def __repr__(self) -> str:
        return f"ArraySpec(dtype={self.dtype}, shape={self.shape})"

    def check(self, value: Any) -> np.ndarray[Any, Any]:
        if type(value) is CBORTag and is_array_tag(value):
            value = from_wire(value)
        if not isinstance(value, np.ndarray):
            raise ValueError(f"expected an array, got {type(value).__name__}")
        if self.dtype is not None and value.dtype != self.dtype:
            raise ValueError(f"array of dtype {value.dtype}, expected {self.dtype}")
        if self.shape is not None and (
            value.ndim != len(self.shape)
            or any(n is not None and n != got for n, got in zip(self.shape, value.shape, strict=True))
        ):
            want = "(" + ", ".join("any" if n is None else str(n) for n in self.shape) + ")"
            raise ValueError(f"array of shape {value.shape}, expected {want}")
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.no_info_plain_validator_function(self.check)


class _ArrayForm:
    """``Array[dtype, shape]``, ``Array[dtype]`` or ``Array`` alone: an ndarray annotation with checks."""

    def __getitem__(self, params: Any) -> Any:
        if not isinstance(params, tuple):
            params = (params,)
        if len(params) > 2:
            raise TypeError("Array[dtype, shape] takes at most two parameters")
        spec = ArraySpec(*params)
        return Annotated[np.ndarray, spec]


Array: Any = _ArrayForm()

def loan_array(topic: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray[Any, Any]:
    """A writable array to fill in place and then publish on ``topic`` (in a returned dict), sent without
    any copy: it lives in a slot of this process's shared-memory ring for ``topic``. After it is published
    it turns read-only. Where shared memory cannot be used it is an ordinary array."""
    from ether_medium.fabric import shm

    dt = np.dtype(dtype)
    check_dtype(dt, f"loan_array({topic!r})")
    if shm.available() and shm_threshold() and math.prod(shape) * dt.itemsize >= shm_threshold():
        arr = shm.loan(topic, tuple(shape), dt)
        if arr is not None:
            return arr
    return np.empty(shape, dt)


def publish_with_arrays(client: FabricClient, topic: str, data: dict[str, Any]) -> bool:
    """Publish ``data`` with its arrays made publishable (shared memory where the whole fabric is on this
    machine, an ``ipc://`` one); ``False`` when it has no arrays (the caller reports why it could not be
    encoded). Raises ``TypeError`` for an array that cannot be published."""
    from ether_medium.fabric import shm

    shared = client.addresses.publish.startswith("ipc://") and shm.available()
    try:
        converted = outgoing(data, topic, shared)
    except ArrayError as exc:
        raise TypeError(str(exc)) from exc
    if converted is None:
        return False
    client.publish_data(topic, converted)
    return True
