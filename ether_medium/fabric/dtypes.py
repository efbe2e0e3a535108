"""What an array that crosses a process boundary may be: its element type (plain bytes with no pointers
inside) and its shape, checked where a descriptor is read (inline arrays, shared-memory slots, the recorder's
array store) and where an array is published."""

from __future__ import annotations

from typing import Any

import numpy as np

from ether_medium.errors import ArrayError

__all__ = ["check_dtype", "parse_dtype", "parse_shape"]

_KINDS = "biufc"  # bool, signed, unsigned, float, complex: plain bytes with no pointers inside
_dtypes: dict[str, np.dtype[Any]] = {}  # dtype strings seen (only valid ones: a small set)


def check_dtype(dtype: np.dtype[Any], where: str) -> None:
    """Raise :class:`ArrayError` for an element type that cannot travel as plain bytes."""
    if dtype.kind not in _KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise ArrayError(
            f"{where}: arrays of dtype {dtype} cannot be published; use a numeric or bool dtype "
            "(convert strings and objects to a list)"
        )


def parse_shape(raw: Any, where: str) -> tuple[int, ...]:
    """A received shape: a list of at most 32 sizes >= 0, else :class:`ArrayError`."""
    if not isinstance(raw, list | tuple) or len(raw) > 32 or any(
        type(n) is not int or n < 0 for n in raw
    ):
        raise ArrayError(f"{where}: shape {raw!r:.60} is not a list of at most 32 sizes >= 0")
    return tuple(raw)


def parse_dtype(raw: Any, where: str) -> np.dtype[Any]:
    """A received numpy dtype string (``"<f4"``) as a dtype that can travel, else :class:`ArrayError`."""
    known = _dtypes.get(raw) if type(raw) is str else None
    if known is not None:
        return known
    if type(raw) is not str or len(raw) > 8:
        raise ArrayError(f"{where}: dtype {raw!r:.40} is not a numpy dtype string")
    try:
        dtype = np.dtype(raw)
    except TypeError as exc:
        raise ArrayError(f"{where}: dtype {raw!r} is not a numpy dtype string") from exc
    check_dtype(dtype, where)
    _dtypes[raw] = dtype
    return dtype
