"""Export a recorded session to Parquet (``pyarrow``): one ``<topic>.parquet`` per topic, the columns of
:mod:`ether_medium.recorder.export` (provenance first, then one per payload field, nested maps dotted).

Arrays are **list columns** of their dtype, not text: a field holding a one-dimensional array is a column of
type ``list<int16>`` (``list<float>``, ...), one list per message. A field holding arrays of more dimensions
is stored flat, row-major, with a column ``<field>.shape`` (``list<int64>``) beside it: a frame is
``np.asarray(row[field]).reshape(row[field + ".shape"])``. Arrays of different dtypes in one column are
stored in their common dtype (``np.result_type``); a column Parquet cannot hold so (complex numbers, arrays
mixed with other values) is written as text, JSON lists, and counted like every conversion.

The session row is kept in each file's schema metadata (key ``ether.session``). Needs the optional extra:
``pip install 'ether-medium[parquet]'`` (pyarrow, which brings numpy).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ether_medium.errors import MissingExtra
from ether_medium.recorder.export import (
    PARQUET_HINT,
    Exported,
    as_text,
    file_stems,
    topic_columns,
    topic_records,
    write_session,
)
from ether_medium.recorder.store import SessionInfo, Store

__all__ = ["export_parquet"]


def export_parquet(store: Store, session: SessionInfo, out: Path,
                   topics: list[str] | None = None) -> Exported:
    """Like :func:`~ether_medium.recorder.export.export_csv`, one ``<topic>.parquet`` per topic (arrays as
    list columns: see the module docstring). A column whose values Parquet cannot hold in one type (mixed
    types, an integer beyond 64 bits) is written as text. Raises :class:`MissingExtra` without pyarrow."""
    try:
        import numpy as np
        import pyarrow as pa  # type: ignore[import-untyped,import-not-found,unused-ignore]
        import pyarrow.parquet as pq  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError as exc:
        raise MissingExtra(PARQUET_HINT) from exc
    out.mkdir(parents=True, exist_ok=True)
    report = Exported([write_session(session, out)])
    meta = {b"ether.session": json.dumps(asdict(session), default=str).encode()}
    keep = (np.ndarray,)
    for topic, stem in file_stems(store.topics(session.id, topics)).items():
        columns = topic_columns(store, session.id, topic)
        values: dict[str, list[Any]] = {c: [] for c in columns}
        for record in topic_records(store, session.id, topic, report, keep):
            for c in columns:
                values[c].append(record.get(c))
        names, arrays = [], []
        for c in columns:
            for name, arr in _column(topic, c, values.pop(c), report, np, pa):
                names.append(name)
                arrays.append(arr)
        table = pa.Table.from_arrays(arrays, names=names).replace_schema_metadata(meta)
        path = out / f"{stem}.parquet"
        pq.write_table(table, path)
        report.paths.append(path)
    return report


def _column(topic: str, name: str, values: list[Any], report: Exported, np: Any,
            pa: Any) -> list[tuple[str, Any]]:
    """The Arrow column(s) of one field: itself, and ``<name>.shape`` for arrays of more dimensions."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, np.ndarray) for v in present):
        try:
            return _array_column(name, values, present, np, pa)
        except (TypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            pass  # complex numbers, a dtype Arrow lacks: text, below
    elif not any(isinstance(v, np.ndarray) for v in present):
        try:
            return [(name, pa.array(values))]
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):  # mixed types, beyond 64 bits
            pass
    texts = [None if v is None else v if isinstance(v, str) else _text(v, np) for v in values]
    n = sum(1 for v in values if v is not None and not isinstance(v, str))
    report.convert(f"{topic}: column {name!r} written as text (mixed types or beyond 64 bits)", n)
    return [(name, pa.array(texts, type=pa.string()))]


def _array_column(name: str, values: list[Any], present: list[Any], np: Any,
                  pa: Any) -> list[tuple[str, Any]]:
    dtype = np.result_type(*{v.dtype for v in present}).newbyteorder("=")
    if dtype.kind not in "biuf":
        raise TypeError(f"no Arrow list type for arrays of {dtype}")
    item = pa.from_numpy_dtype(dtype)
    total = sum(v.size for v in present)  # beyond 2**31 elements a list column needs 64-bit offsets
    kind = pa.list_(item) if total < 2**31 else pa.large_list(item)
    flat = [None if v is None else np.ascontiguousarray(v, dtype).reshape(-1) for v in values]
    columns = [(name, pa.array(flat, type=kind))]
    if any(v.ndim != 1 for v in present):
        shapes = [None if v is None else list(v.shape) for v in values]
        columns.append((f"{name}.shape", pa.array(shapes, type=pa.list_(pa.int64()))))
    return columns


def _text(value: Any, np: Any) -> str:
    """A value of a text column: arrays as JSON lists."""
    return as_text(value.tolist() if isinstance(value, np.ndarray) else value)
