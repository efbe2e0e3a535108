"""Export a recorded session to files scientists open: one table per topic, CSV or Parquet.

Each table has the provenance columns first (``source``, ``seq``, ``host_time``, ``device_time``,
``device_uncertainty``, ``device_seq``), then one column per payload field; a CSV file also has
``host_time_iso`` beside ``host_time`` (the same instant in ISO 8601, local time zone with its offset).
Nested maps are flattened with dots (``{"pos": {"x": 1}}`` becomes column ``pos.x``); lists and other
values CSV cannot hold become JSON text; bytes become hex. A payload field named like a provenance column
is exported as ``data.<name>``.
Columns appear in the order fields were first seen; a message without a field leaves that cell empty.
Every recorded value is written: one a format cannot hold as it is (a cyclic value, an integer beyond
Python's digit limit, an integer beyond 64 bits in Parquet, a payload that is not CBOR) becomes text, and
:class:`Exported` counts how many did (``ether export`` prints the count).
Next to the tables, ``session.json`` holds the session row (config, versions, host, git commit, ...).

Parquet (:mod:`ether_medium.recorder.parquet`, arrays as list columns there) needs the optional ``pyarrow``
extra (``pip install 'ether-medium[parquet]'``).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import cbor2

from ether_medium.errors import MissingExtra
from ether_medium.recorder.schema import MessageRow
from ether_medium.recorder.store import SessionInfo, Store

__all__ = ["PROVENANCE", "Exported", "MissingExtra", "export_csv", "file_stem", "file_stems", "flatten",
           "topic_columns", "topic_records", "write_session"]

PROVENANCE = ("source", "seq", "host_time", "device_time", "device_uncertainty", "device_seq")
ISO_COLUMN = "host_time_iso"  # CSV only, right after host_time
PARQUET_HINT = "Parquet export needs pyarrow: pip install 'ether-medium[parquet]'"
_DIGITS = 4000  # integers longer than this (Python's str() limit is 4300 digits) are written in hex


@dataclass
class Exported:
    """What an export wrote: the files, and how many values had to become text because the format cannot
    hold them as they are (a cyclic value, an integer beyond 64 bits in Parquet, a payload not CBOR)."""

    paths: list[Path]
    converted: int = 0
    examples: list[str] = field(default_factory=list)  # the first few conversions, for the user

    def convert(self, what: str, n: int = 1) -> None:
        self.converted += n
        if len(self.examples) < 5:
            self.examples.append(what)


def as_text(value: Any, _seen: frozenset[int] = frozenset()) -> str:
    """Any decoded CBOR value as text, never raising: JSON-like (lists, maps, numbers, quoted text), with
    ``<cycle>`` where a value contains itself, hex for integers beyond Python's digit limit and for bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value) if value.bit_length() < _DIGITS * 3 else hex(value)
    if isinstance(value, list | tuple | dict):
        if id(value) in _seen:
            return "<cycle>"
        seen = _seen | {id(value)}
        if isinstance(value, dict):
            items = (f"{json.dumps(k if isinstance(k, str) else as_text(k, seen))}: {_json_item(v, seen)}"
                     for k, v in value.items())
            return "{" + ", ".join(items) + "}"
        return "[" + ", ".join(_json_item(v, seen) for v in value) + "]"
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if value is None or isinstance(value, str | float | bool):
        return json.dumps(value)
    try:
        return str(value)
    except Exception:  # a value whose text cannot be made (a tag holding an enormous integer, ...)
        return f"<{type(value).__name__}>"


def _json_item(value: Any, seen: frozenset[int]) -> str:
    return json.dumps(value) if isinstance(value, str) else as_text(value, seen)


def flatten(data: dict[Any, Any], prefix: str = "", report: Exported | None = None,
            keep: tuple[type, ...] = (), _seen: frozenset[int] = frozenset()) -> dict[str, Any]:
    """A payload map as flat columns (see the module docstring). Values the columns cannot hold as they
    are (a cyclic map, an integer beyond the digit limit) become text, counted in ``report``; values of
    the types in ``keep`` (Parquet: ndarrays) are kept as they are."""
    out: dict[str, Any] = {}
    seen = _seen | {id(data)}
    for key, value in data.items():
        name = f"{prefix}{key if isinstance(key, str) else as_text(key)}"
        if not prefix and (name in PROVENANCE or name == ISO_COLUMN):
            name = f"data.{name}"
        if isinstance(value, dict) and id(value) not in seen:
            out.update(flatten(value, f"{name}.", report, keep, seen))
        elif keep and isinstance(value, keep):
            out[name] = value
        elif isinstance(value, bytes | bytearray):
            out[name] = bytes(value).hex()
        elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() >= _DIGITS * 3:
            out[name] = hex(value)
            if report is not None:
                report.convert(f"{name}: an integer of {value.bit_length()} bits, written in hex")
        elif value is None or isinstance(value, str | int | float | bool):
            out[name] = value
        else:
            try:
                out[name] = json.dumps(value, default=str)
            except (ValueError, TypeError, RecursionError):  # cyclic, non-text keys, enormous integers
                out[name] = as_text(value)
                if report is not None:
                    report.convert(f"{name}: {type(value).__name__} that JSON cannot hold, written as text")
    return out


def file_stem(topic: str) -> str:
    """A file name for a topic: characters outside ``A-Za-z0-9._-`` become ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", topic) or "_"


def file_stems(topics: list[str]) -> dict[str, str]:
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


def _with_arrays(data: dict[str, Any], store: Store, session_id: str, keep: bool) -> dict[str, Any]:
    """``data`` with its arrays as ndarrays (``keep``) or as nested lists."""
    try:
        from ether_medium.recorder.arrays import array_path, as_lists, resolve
    except ImportError:  # without numpy no array was stored apart: the values stay as recorded
        return data
    path = array_path(store.path, session_id)
    return resolve(data, path) if keep else as_lists(data, path)


def topic_records(store: Store, session_id: str, topic: str, report: Exported | None = None,
             keep: tuple[type, ...] = ()) -> Iterator[dict[str, Any]]:
    """The rows of ``topic`` as flat records; ``keep``: the array types a format holds as they are
    (Parquet: ndarrays; CSV: none, arrays become nested lists, JSON text)."""
    row: MessageRow
    for row in store.messages(session_id, [topic]):
        record = dict(zip(PROVENANCE, row[2:8], strict=True))
        try:
            payload = cbor2.loads(row[8])
        except Exception:  # a database written by something else: keep the bytes, as text
            payload = {"payload": bytes(row[8]).hex() if isinstance(row[8], bytes) else as_text(row[8])}
            if report is not None:
                report.convert(f"{topic}: a payload that is not CBOR, written as hex in column 'payload'")
        if not isinstance(payload, dict):
            payload = {"payload": payload}
        elif any(type(v) is cbor2.CBORTag for v in payload.values()):  # arrays
            payload = _with_arrays(payload, store, session_id, bool(keep))
        record.update(flatten(payload, "", report, keep))
        yield record


def topic_columns(store: Store, session_id: str, topic: str) -> list[str]:
    """The columns of ``topic``'s table, in the order its fields were first seen."""
    seen: dict[str, None] = dict.fromkeys(PROVENANCE)
    for record in topic_records(store, session_id, topic, keep=(object,)):  # names only: no value converted
        seen.update(dict.fromkeys(record))
    return list(seen)


def _iso(t: Any) -> str:
    try:
        return datetime.fromtimestamp(float(t)).astimezone().isoformat(timespec="microseconds")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def write_session(session: SessionInfo, out: Path) -> Path:
    path = out / "session.json"
    path.write_text(json.dumps(asdict(session), indent=2, default=str) + "\n")
    return path


def export_csv(store: Store, session: SessionInfo, out: Path, topics: list[str] | None = None) -> Exported:
    """Write ``<topic>.csv`` per topic (only those matching ``topics`` globs when given) and
    ``session.json`` into ``out``; return the paths written and how many values became text."""
    out.mkdir(parents=True, exist_ok=True)
    selected = store.topics(session.id, topics)
    report = Exported([write_session(session, out)])
    for topic, stem in file_stems(selected).items():
        columns = topic_columns(store, session.id, topic)
        columns.insert(columns.index("host_time") + 1, ISO_COLUMN)
        path = out / f"{stem}.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=columns, restval="")
            writer.writeheader()
            for record in topic_records(store, session.id, topic, report):
                record[ISO_COLUMN] = _iso(record["host_time"])
                writer.writerow({k: ("" if v is None else v) for k, v in record.items()})
        report.paths.append(path)
    return report
