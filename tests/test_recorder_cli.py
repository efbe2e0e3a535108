"""`ether sessions` and `ether export` on real recording databases."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import cbor2
import pytest
from recorder_harness import Publisher, recorder_process, running_broker, wait_exit

from ether_medium.cli import main as ether
from ether_medium.errors import SessionNotFound
from ether_medium.recorder.store import Store

PAYLOADS = [
    {"value": 0.1, "label": "plain", "pos": {"x": 1, "y": -2.5}, "seq": 99},
    {"value": 1e-300, "label": 'comma, "quote"\nnewline', "samples": [1, 2, 3], "raw": b"\x00\xff"},
    {"value": -7, "flag": True, "pos": {"x": 3}},
]


def _record(tmp_path: Path) -> tuple[Path, str]:
    """A session recorded by a real recorder process: PAYLOADS on 'exp/data', two device readings."""
    db = tmp_path / "ether.sqlite"
    sid = str(uuid.uuid4())
    config = {"recording": {"path": str(db), "topics": ["exp/*", "board.*"]}}
    with running_broker() as broker, recorder_process(broker.addresses, config, ["gen"], sid) as proc:
        gen = Publisher(broker.addresses, "gen")
        try:
            gen.wait_for_subscriber("exp/data")
            gen.wait_for_subscriber("board.t")
            for data in PAYLOADS:
                gen.publish("exp/data", data)
            gen.publish("board.t", {"celsius": 21.25}, source="thermo", device_time=5.5,
                        device_uncertainty=0.001, device_seq=17)
            gen.publish("board.t", {"celsius": 21.5}, source="thermo", device_time=6.5,
                        device_uncertainty=0.001, device_seq=18)
            gen.shutdown()
            gen.bye()
            assert wait_exit(proc) == 0
        finally:
            gen.close()
    return db, sid


def test_sessions_lists_and_export_csv_round_trips(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    db, sid = _record(tmp_path)

    assert ether(["sessions", "--db", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "started", "duration", "status", "messages", "topics"]
    row = lines[1].split()
    assert row[0] == sid and row[3] == "normal" and row[4:] == ["5", "2"]

    out = tmp_path / "out"
    assert ether(["export", sid[:6], "--format", "csv", "--out", str(out), "--db", str(db)]) == 0
    assert "2 topic files" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["board.t.csv", "exp_data.csv", "session.json"]

    with (out / "exp_data.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        columns = reader.fieldnames
    assert columns == ["source", "seq", "host_time", "host_time_iso", "device_time", "device_uncertainty",
                       "device_seq", "value", "label", "pos.x", "pos.y", "data.seq", "samples", "raw", "flag"]
    assert [r["seq"] for r in rows] == ["0", "1", "2"]
    assert [r["source"] for r in rows] == ["gen"] * 3
    assert [float(r["value"]) for r in rows] == [0.1, 1e-300, -7]
    assert [r["label"] for r in rows] == ["plain", 'comma, "quote"\nnewline', ""]
    assert [r["pos.x"] for r in rows] == ["1", "", "3"]
    assert rows[0]["data.seq"] == "99"
    assert json.loads(rows[1]["samples"]) == [1, 2, 3]
    assert rows[1]["raw"] == "00ff"
    assert rows[2]["flag"] == "True"
    assert all(r["device_time"] == "" for r in rows)

    with (out / "board.t.csv").open(newline="") as f:
        dev = list(csv.DictReader(f))
    assert [(r["source"], float(r["device_time"]), float(r["device_uncertainty"]), r["device_seq"],
             float(r["celsius"])) for r in dev] == [("thermo", 5.5, 0.001, "17", 21.25),
                                                   ("thermo", 6.5, 0.001, "18", 21.5)]

    session = json.loads((out / "session.json").read_text())
    assert session["id"] == sid and session["status"] == "normal"
    assert session["config"]["config"]["recording"]["topics"] == ["exp/*", "board.*"]

    assert ether(["sessions", "latest", "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == sid


def test_parquet_without_pyarrow_says_what_to_install(tmp_path: Path) -> None:
    db = tmp_path / "ether.sqlite"
    store = Store(db)
    store.begin_session("s1", {})
    store.insert([("s1", "t", "gen", 0, time.time(), None, None, None, cbor2.dumps({"v": 1}))])
    store.end_session("s1", "normal")
    store.close()
    blocked = "import sys; sys.modules['pyarrow'] = None; from ether_medium.cli import main; sys.exit(main())"
    proc = subprocess.run([sys.executable, "-c", blocked, "export", "latest", "--format", "parquet",
                           "--db", str(db), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "pip install 'ether-medium[parquet]'" in proc.stderr


def test_parquet_export_with_pyarrow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow (the 'parquet' extra) is not installed")
    db, sid = _record(tmp_path)
    out = tmp_path / "pq"
    assert ether(["export", "latest", "--format", "parquet", "--out", str(out), "--db", str(db)]) == 0
    table = pq.read_table(out / "exp_data.parquet")
    assert table.column("value").to_pylist() == [0.1, 1e-300, -7]
    assert json.loads(table.schema.metadata[b"ether.session"])["id"] == sid


def test_session_references_and_interrupted_sessions(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "ether.sqlite"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store = Store(db)
    store.begin_session("aaaa1111", {}, started=1000.0)
    store.end_session("aaaa1111", "normal", ended=1010.0)
    store.begin_session("aaaa2222", {}, started=2000.0, pid=dead.pid)  # its recorder died
    store.close()

    assert ether(["sessions", "--db", str(db)]) == 0
    captured = capsys.readouterr()
    assert "aaaa2222 was left running by a recorder that died" in captured.err
    statuses = {line.split()[0]: line.split()[3] for line in captured.out.splitlines()[1:]}
    assert statuses == {"aaaa1111": "normal", "aaaa2222": "interrupted"}

    store = Store(db)
    try:
        assert store.resolve("latest").id == "aaaa2222"
        assert store.resolve("aaaa1").id == "aaaa1111"
        with pytest.raises(SessionNotFound, match="matches 2 sessions"):
            store.resolve("aaaa")
        with pytest.raises(SessionNotFound, match="no session id starts with 'b'"):
            store.resolve("b")
    finally:
        store.close()

    assert ether(["export", "zzz", "--db", str(db)]) == 1
    assert "no session id starts with 'zzz'" in capsys.readouterr().err
    assert ether(["sessions", "--db", str(tmp_path / "nope.sqlite")]) == 1
    assert "no recording database at" in capsys.readouterr().err
    assert not (tmp_path / "nope.sqlite").exists()
