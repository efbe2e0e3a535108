"""Export a recorded session to one HDF5 file (``h5py``): one group per topic, one dataset per field, stacked.

Layout of ``<out>/session.h5``::

    /                       attrs: ether.session (the session row as JSON), ether.layout = 1
    /<topic>/               one group per topic ("/" in a topic name becomes "_")
        host_time           float64 (n,)   host clock when each message entered the fabric
        device_time         float64 (n,)   device time mapped to the host clock; NaN for host messages
        device_uncertainty  float64 (n,)   NaN for host messages
        seq                 int64 (n,)     the publisher's sequence number
        device_seq          int64 (n,)     the device's own; -1 for host messages
        source              str (n,)       instance or device name
        <field>             (n, *shape)    an array field of one dtype and shape: the arrays stacked, with
                                           their dtype; a number field: float64 or int64 or bool (n,);
                                           text: str (n,); anything else: its JSON text
        <field>.present     bool (n,)      only when some messages lack the field (their rows hold 0, NaN
                                           or "")

Nested maps become dotted field names (``pos.x``). An array field whose shape or dtype changes between
messages is a group ``<field>`` of datasets ``"0"``, ``"1"``, ... named by message index.

Needs the optional extra: ``pip install 'ether-medium[arrays]'``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cbor2

from ether_medium.errors import MissingExtra
from ether_medium.recorder.export import Exported
from ether_medium.recorder.store import SessionInfo, Store

__all__ = ["HDF5_HINT", "export_hdf5"]

HDF5_HINT = "HDF5 export needs numpy and h5py: pip install 'ether-medium[arrays]'"


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


class _Field:
    """What one field holds across a topic's messages (learned in a first pass)."""

    def __init__(self) -> None:
        self.kind: str | None = None  # "array", "int", "float", "bool", "str", "json"
        self.dtype: Any = None
        self.shape: tuple[int, ...] | None = None
        self.ragged = False
        self.missing = False

    def see(self, value: Any, np: Any) -> None:
        if isinstance(value, np.ndarray):
            kind = "array"
            if self.dtype is None:
                self.dtype, self.shape = value.dtype, value.shape
            elif value.dtype != self.dtype or value.shape != self.shape:
                self.ragged = True
        elif isinstance(value, bool):
            kind = "bool"
        elif isinstance(value, int):
            kind = "int"
        elif isinstance(value, float):
            kind = "float"
        elif isinstance(value, str):
            kind = "str"
        else:
            kind = "json"
        if self.kind is None:
            self.kind = kind
        elif self.kind != kind:
            numbers = {self.kind, kind} <= {"int", "float", "bool"}
            self.kind = "float" if numbers else "json"


def _write_topic(group: Any, rows: list[tuple[Any, ...]], payloads: list[dict[str, Any]], np: Any,
                 h5py: Any) -> None:
    n = len(rows)
    text = h5py.string_dtype()
    group["host_time"] = np.array([r[4] for r in rows], np.float64)
    group["device_time"] = np.array([np.nan if r[5] is None else r[5] for r in rows], np.float64)
    group["device_uncertainty"] = np.array([np.nan if r[6] is None else r[6] for r in rows], np.float64)
    group["seq"] = np.array([r[3] for r in rows], np.int64)
    group["device_seq"] = np.array([-1 if r[7] is None else r[7] for r in rows], np.int64)
    group.create_dataset("source", data=[r[2] for r in rows], dtype=text)
    fields: dict[str, _Field] = {}
    for data in payloads:
        for name, value in data.items():
            fields.setdefault(name, _Field()).see(value, np)
    for name, field in fields.items():
        present = np.array([name in d for d in payloads], bool)
        field.missing = not present.all()
        target = name if name not in group else f"data.{name}"
        if field.kind == "array" and field.ragged:
            sub = group.create_group(target)
            for i, d in enumerate(payloads):
                if name in d:
                    sub[str(i)] = d[name]
            continue
        if field.kind == "array":
            ds = group.create_dataset(target, (n, *(field.shape or ())), field.dtype)
            for i, d in enumerate(payloads):
                if name in d:
                    ds[i] = d[name]  # one message at a time: never the whole topic in memory
        elif field.kind in ("int", "float", "bool"):
            dtype = {"int": np.int64, "float": np.float64, "bool": bool}[field.kind]
            fill = np.nan if field.kind == "float" else 0
            group[target] = np.array([d.get(name, fill) for d in payloads], dtype)
        elif field.kind == "str":
            group.create_dataset(target, data=[d.get(name, "") for d in payloads], dtype=text)
        else:
            values = [json.dumps(d[name], default=str) if name in d else "" for d in payloads]
            group.create_dataset(target, data=values, dtype=text)
        if field.missing:
            group[f"{target}.present"] = present


def export_hdf5(store: Store, session: SessionInfo, out: Path, topics: list[str] | None = None) -> Exported:
    """Write ``session.h5`` (see the module docstring) and ``session.json`` into ``out``. Raises
    :class:`MissingExtra` without numpy and h5py."""
    try:
        import h5py  # type: ignore[import-untyped,unused-ignore]
        import numpy as np

        from ether_medium.recorder.arrays import array_path, resolve
    except ImportError as exc:
        raise MissingExtra(HDF5_HINT) from exc
    out.mkdir(parents=True, exist_ok=True)
    meta = out / "session.json"
    meta.write_text(json.dumps(asdict(session), indent=2, default=str) + "\n")
    path = out / "session.h5"
    arrays = array_path(store.path, session.id)
    with h5py.File(path, "w") as h5:
        h5.attrs["ether.session"] = json.dumps(asdict(session), default=str)
        h5.attrs["ether.layout"] = 1
        for topic in store.topics(session.id, topics):
            rows = list(store.messages(session.id, [topic]))
            payloads = [_flat(resolve(cbor2.loads(r[8]), arrays)) for r in rows]
            _write_topic(h5.create_group(topic.replace("/", "_")), rows, payloads, np, h5py)
    return Exported([meta, path])
