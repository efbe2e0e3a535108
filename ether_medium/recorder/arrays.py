"""The recorder's array store: the bytes of recorded arrays beside the SQLite rows, with dtype and shape kept.

One file per session, ``<database without .sqlite>.arrays/<session id>.bin`` (``ether_data/ether.arrays/``
beside ``ether_data/ether.sqlite``): the arrays' bytes, appended in the order they arrived. In the row's CBOR
payload each array of at least :data:`STORED_MIN` bytes is replaced by a reference, CBOR tag
:data:`STORED_TAG` over ``[dtype string, shape, offset]`` (its bytes are at ``offset`` in that file); smaller
arrays stay in the payload in their inline form (RFC 8746, see :mod:`ether_medium.fabric.arrays`).

An array that came through shared memory is read from its slot here, in the recorder's receiving thread, and
written to the file straight away; the file is written (to the OS) before the row is handed to the writer
thread, so a committed row never points past the end of the file, also after a ``kill -9``. A slot already
overwritten when the recorder reads it (the recorder fell ``ETHER_ARRAYS_SLOTS`` messages behind) makes the
message count as malformed, logged with that reason, like any message the recorder cannot store.

:func:`resolve` turns a stored payload back into ndarrays (export, replay).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import cbor2
import numpy as np
from cbor2 import CBORTag

from ether_medium.errors import ArrayError
from ether_medium.fabric import shm
from ether_medium.fabric.arrays import MULTI_TAG, from_wire, to_wire
from ether_medium.fabric.dtypes import parse_dtype, parse_shape

__all__ = ["STORED_MIN", "STORED_TAG", "ArrayFile", "array_path", "as_lists", "resolve", "stored_arrays",
           "storing_rows", "to_inline"]

STORED_TAG = 59298  # Ether's own: [dtype string, shape, offset] of an array in the session's array file
STORED_MIN = 1024  # bytes: smaller arrays stay inline in the row's payload
_MARKS = (b"\xd8\x28", b"\xd9\xe7\xa0")  # CBOR heads of tag 40 (inline array) and of shm.SHM_TAG


def array_path(db_path: str | Path, session_id: str) -> Path:
    """Where the arrays of ``session_id`` recorded into the database ``db_path`` are."""
    db = Path(db_path)
    return db.with_name(db.stem + ".arrays") / f"{session_id}.bin"


class ArrayFile:
    """The session's array file, opened for appending on the first array."""

    def __init__(self, db_path: str | Path, session_id: str) -> None:
        self.path = array_path(db_path, session_id)
        self._file: BinaryIO | None = None
        self._size = 0
        self.arrays = 0

    def append(self, arr: np.ndarray[Any, Any]) -> int:
        """Write ``arr``'s bytes; their offset in the file."""
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - open for the whole session
            self._size = self._file.seek(0, os.SEEK_END)
        offset = self._size
        data = np.ascontiguousarray(arr).data.cast("B")
        while data:
            n = self._file.write(data)
            data = data[n or len(data):]
        self._size += arr.nbytes
        self.arrays += 1
        return offset

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def stored(self, payload: bytes) -> bytes:
        """``payload`` (a row's CBOR map) with its arrays written to the file and replaced by references;
        ``payload`` itself when it holds none."""
        if not any(mark in payload for mark in _MARKS):
            return payload
        data = cbor2.loads(payload)
        changed = False
        try:
            for key, value in data.items():
                if type(value) is not CBORTag or value.tag not in (MULTI_TAG, shm.SHM_TAG):
                    continue
                arr = from_wire(value, f"field {key!r}")  # a slot is held until release()
                if arr.nbytes >= STORED_MIN:
                    data[key] = CBORTag(STORED_TAG, [arr.dtype.str, list(arr.shape), self.append(arr)])
                    changed = True
                elif value.tag == shm.SHM_TAG:
                    data[key] = to_wire(arr)
                    changed = True
        finally:
            shm.release()
        return cbor2.dumps(data) if changed else payload


def storing_rows(row: Callable[[str, bytes], tuple[Any, ...]],
                 arrays: ArrayFile) -> Callable[[str, bytes], tuple[Any, ...]]:
    """The recorder's row parser with each row's arrays moved to ``arrays`` (the payload is last)."""

    inline, shared = _MARKS
    stored = arrays.stored

    def row_with_arrays(topic: str, body: bytes) -> tuple[Any, ...]:
        values = row(topic, body)
        payload = values[-1]
        if inline not in payload and shared not in payload:  # the usual case: no array
            return values
        return (*values[:-1], stored(payload))

    return row_with_arrays



def _load(path: Path, dtype: np.dtype[Any], shape: tuple[int, ...], offset: int) -> np.ndarray[Any, Any]:
    count = math.prod(shape)
    if not path.exists() or offset < 0 or offset + count * dtype.itemsize > path.stat().st_size:
        raise ArrayError(f"{path}: a recorded array of {count * dtype.itemsize} bytes at {offset} is missing "
                         "(the array file was moved, or cut short)")
    if count == 0:
        return np.zeros(shape, dtype)
    return np.memmap(path, dtype, "r", offset, shape)  # read when used: a long session never sits in memory


def stored_arrays(value: Any) -> bool:
    """Whether a decoded payload value is a recorded array (stored or inline)."""
    return type(value) is CBORTag and value.tag in (STORED_TAG, MULTI_TAG)


def resolve(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """A decoded payload with its arrays (stored references and inline ones) as ndarrays; ``path`` is the
    session's :func:`array_path`."""
    out = dict(data)
    for key, value in data.items():
        if type(value) is not CBORTag:
            continue
        where = f"{path.name}: field {key!r}"
        if value.tag == STORED_TAG and isinstance(value.value, list | tuple) and len(value.value) == 3:
            dtype_s, shape, offset = value.value
            if type(offset) is not int:
                raise ArrayError(f"{where}: malformed array reference")
            out[key] = _load(path, parse_dtype(dtype_s, where), parse_shape(shape, where), offset)
        elif value.tag == MULTI_TAG:
            out[key] = from_wire(value, where)
    return out


def as_lists(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """A decoded payload with its arrays as nested lists (the CSV and Parquet exports)."""
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in resolve(data, path).items()}


def to_inline(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """A decoded payload with its stored arrays back in their inline form (replay publishes them so)."""
    if not any(type(v) is CBORTag and v.tag == STORED_TAG for v in data.values()):
        return data
    return {k: (to_wire(v) if isinstance(v, np.ndarray) else v) for k, v in resolve(data, path).items()}
