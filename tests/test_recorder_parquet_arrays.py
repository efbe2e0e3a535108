"""Parquet export of recorded arrays (ether_medium.recorder.parquet): list columns of their dtype, read back
with pyarrow; more dimensions flat with a ``<field>.shape`` column; what Arrow cannot hold becomes text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cbor2
import numpy as np
import pytest

from ether_medium.cli import main as ether
from ether_medium.fabric.arrays import to_wire
from ether_medium.recorder.arrays import STORED_TAG, ArrayFile
from ether_medium.recorder.store import Store

pa = pytest.importorskip("pyarrow", reason="pyarrow (the 'parquet' extra) is not installed")
pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow (the 'parquet' extra) is not installed")

FRAMES = [np.arange(1200, dtype=np.float32).reshape(4, 300) / 7, np.full((2, 300), -1.5, np.float32), None,
          np.linspace(0, 1, 1200, dtype=np.float32).reshape(4, 300)]
TRACES = [np.array([1, -2, 300], np.int16), np.array([5], np.int16), None, np.array([7, 8], ">i2")]


def _wire(data: dict[str, Any]) -> dict[str, Any]:
    return {k: to_wire(v) if isinstance(v, np.ndarray) else v for k, v in data.items() if v is not None}


def _recorded(tmp_path: Path) -> Path:
    """A session as the recorder writes one: frames (4.8 KB) in the array file, traces inline in the rows."""
    db = tmp_path / "ether.sqlite"
    store = Store(db)
    store.begin_session("s1", {})
    files = ArrayFile(db, "s1")
    rows = []
    for n, (trace, frame) in enumerate(zip(TRACES, FRAMES, strict=True)):
        payload = files.stored(cbor2.dumps(_wire({"trace": trace, "frame": frame, "n": n})))
        rows.append(("s1", "scope", "scope", n, 1.0 + n, None, None, None, payload))
    stored = cbor2.loads(rows[0][8])
    assert stored["frame"].tag == STORED_TAG and stored["trace"].tag == 40  # both forms are exported
    rows.append(("s1", "odd", "odd", 0, 9.0, None, None, None,
                 cbor2.dumps(_wire({"z": np.array([1 + 2j]), "ok": np.array([True, False])}))))
    files.close()
    store.insert(rows)
    store.end_session("s1", "normal")
    store.close()
    return db


def test_parquet_export_writes_arrays_as_list_columns_of_their_dtype(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _recorded(tmp_path)
    out = tmp_path / "pq"
    assert ether(["export", "latest", "--format", "parquet", "--db", str(db), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    table = pq.read_table(out / "scope.parquet")
    assert table.schema.field("trace").type == pa.list_(pa.int16())  # big-endian int16 too: one dtype
    assert "trace.shape" not in table.column_names  # one-dimensional: the lists are the arrays
    assert table.column("trace").to_pylist() == [[1, -2, 300], [5], None, [7, 8]]
    assert table.schema.field("frame").type == pa.list_(pa.float32())
    assert table.schema.field("frame.shape").type == pa.list_(pa.int64())
    assert table.column_names.index("frame.shape") == table.column_names.index("frame") + 1
    assert table.column("n").to_pylist() == [0, 1, 2, 3]
    for row, want in zip(table.to_pylist(), FRAMES, strict=True):
        if want is None:
            assert row["frame"] is None and row["frame.shape"] is None
            continue
        got = np.asarray(row["frame"], np.float32).reshape(row["frame.shape"])  # as docs/arrays.md says
        assert got.tobytes() == want.tobytes()
    frames = table.column("frame").combine_chunks()  # and without Python lists: the values as numpy
    assert frames.values.to_numpy().dtype == np.float32

    odd = pq.read_table(out / "odd.parquet")
    assert odd.schema.field("ok").type == pa.list_(pa.bool_())
    assert odd.column("ok").to_pylist() == [[True, False]]
    assert odd.schema.field("z").type == pa.string()  # Arrow has no complex numbers: JSON text, counted
    assert "1 value written as text" in printed, printed


def test_csv_export_still_writes_arrays_as_json_lists(tmp_path: Path) -> None:
    import csv

    db = _recorded(tmp_path)
    out = tmp_path / "csv"
    assert ether(["export", "latest", "--format", "csv", "--db", str(db), "--out", str(out)]) == 0
    with open(tmp_path / "csv" / "scope.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert json.loads(rows[0]["trace"]) == [1, -2, 300] and json.loads(rows[3]["trace"]) == [7, 8]
    assert np.array(json.loads(rows[1]["frame"]), np.float32).shape == (2, 300)
