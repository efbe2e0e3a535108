"""Export a recorded session to files scientists open: one table per topic, CSV or Parquet.

Each table has the provenance columns first (``source``, ``seq``, ``host_time``, ``device_time``,
``device_uncertainty``, ``device_seq``), then one column per payload field. Nested maps are flattened with
dots (``{"pos": {"x": 1}}`` becomes column ``pos.x``); lists and other values CSV cannot hold become JSON
text; bytes become hex. A payload field named like a provenance column is exported as ``data.<name>``.
Columns appear in the order fields were first seen; a message without a field leaves that cell empty.
Next to the tables, ``session.json`` holds the session row (config, versions, host, git commit, ...).

Parquet needs the optional ``pyarrow`` extra (``pip install 'ether-medium[parquet]'``).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cbor2

from ether_medium.errors import MissingExtra
from ether_medium.recorder.store import MessageRow, SessionInfo, Store

__all__ = ["PROVENANCE", "MissingExtra", "export_csv", "export_parquet", "file_stem", "flatten"]

PROVENANCE = ("source", "seq", "host_time", "device_time", "device_uncertainty", "device_seq")
PARQUET_HINT = "Parquet export needs pyarrow: pip install 'ether-medium[parquet]'"


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A payload map as flat columns (see the module docstring)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if not prefix and name in PROVENANCE:
            name = f"data.{name}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, bytes | bytearray):
            out[name] = bytes(value).hex()
        elif value is None or isinstance(value, str | int | float | bool):
            out[name] = value
        else:
            out[name] = json.dumps(value, default=str)
    return out


def file_stem(topic: str) -> str:
    """A file name for a topic: characters outside ``A-Za-z0-9._-`` become ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", topic) or "_"


def _stems(topics: list[str]) -> dict[str, str]:
    used: set[str] = set()
    out = {}
    for topic in topics:
        stem = base = file_stem(topic)
        n = 2
        while stem.lower() in used:
            stem, n = f"{base}-{n}", n + 1
        used.add(stem.lower())
        out[topic] = stem
    return out


def _arrays_as_lists(data: dict[str, Any], store: Store, session_id: str) -> dict[str, Any]:
    try:
        from ether_medium.recorder.arrays import array_path, as_lists
    except ImportError:  # without numpy no array was stored apart: the values stay as recorded
        return data
    return as_lists(data, array_path(store.path, session_id))


def _records(store: Store, session_id: str, topic: str) -> Iterator[dict[str, Any]]:
    row: MessageRow
    for row in store.messages(session_id, [topic]):
        record = dict(zip(PROVENANCE, row[2:8], strict=True))
        data = cbor2.loads(row[8])
        if any(type(v) is cbor2.CBORTag for v in data.values()):  # arrays: as nested lists (JSON text)
            data = _arrays_as_lists(data, store, session_id)
        record.update(flatten(data))
        yield record


def _columns(store: Store, session_id: str, topic: str) -> list[str]:
    seen: dict[str, None] = dict.fromkeys(PROVENANCE)
    for record in _records(store, session_id, topic):
        seen.update(dict.fromkeys(record))
    return list(seen)


def _write_session(session: SessionInfo, out: Path) -> Path:
    path = out / "session.json"
    path.write_text(json.dumps(asdict(session), indent=2, default=str) + "\n")
    return path


def export_csv(store: Store, session: SessionInfo, out: Path, topics: list[str] | None = None) -> list[Path]:
    """Write ``<topic>.csv`` per topic (only those matching ``topics`` globs when given) and
    ``session.json`` into ``out``; return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    selected = store.topics(session.id, topics)
    written = [_write_session(session, out)]
    for topic, stem in _stems(selected).items():
        columns = _columns(store, session.id, topic)
        path = out / f"{stem}.csv"
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, restval="")
            writer.writeheader()
            for record in _records(store, session.id, topic):
                writer.writerow({k: ("" if v is None else v) for k, v in record.items()})
        written.append(path)
    return written


def export_parquet(store: Store, session: SessionInfo, out: Path,
                   topics: list[str] | None = None) -> list[Path]:
    """Like :func:`export_csv`, one ``<topic>.parquet`` per topic; the session row is also kept in each
    file's schema metadata (key ``ether.session``). Raises :class:`MissingExtra` without pyarrow."""
    try:
        import pyarrow as pa  # type: ignore[import-untyped,import-not-found,unused-ignore]
        import pyarrow.parquet as pq  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError as exc:
        raise MissingExtra(PARQUET_HINT) from exc
    out.mkdir(parents=True, exist_ok=True)
    written = [_write_session(session, out)]
    meta = {b"ether.session": json.dumps(asdict(session), default=str).encode()}
    for topic, stem in _stems(store.topics(session.id, topics)).items():
        columns = _columns(store, session.id, topic)
        values: dict[str, list[Any]] = {c: [] for c in columns}
        for record in _records(store, session.id, topic):
            for c in columns:
                values[c].append(record.get(c))
        arrays = []
        for c in columns:
            try:
                arrays.append(pa.array(values[c]))
            except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types in one field: keep them as text
                arrays.append(pa.array([None if v is None else str(v) for v in values[c]]))
        table = pa.Table.from_arrays(arrays, names=columns).replace_schema_metadata(meta)
        path = out / f"{stem}.parquet"
        pq.write_table(table, path)
        written.append(path)
    return written
