"""``ether sessions|export|replay`` read the database a config records into, show times as ISO 8601 with the
local time zone, and say clearly when a file is not an Ether recording."""

from __future__ import annotations

import csv
import sqlite3
from datetime import datetime
from pathlib import Path

import cbor2
import pytest

from ether_medium.cli import main as ether
from ether_medium.recorder.store import Store


def _database(path: Path) -> str:
    store = Store(path)
    store.begin_session("s-1", {"source": "rig.yaml", "config": {}}, started=1_700_000_000.25)
    store.insert([("s-1", "t", "gen", 0, 1_700_000_001.5, None, None, None, cbor2.dumps({"v": 1}))])
    store.end_session("s-1", "normal", ended=1_700_000_002.0)
    store.close()
    return "s-1"


def test_data_commands_take_the_database_from_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    _database(tmp_path / "runs" / "lab.sqlite")
    (tmp_path / "rig.yaml").write_text("recording:\n  path: runs/lab.sqlite\n")

    assert ether(["sessions", "--config", "rig.yaml"]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    started = datetime.fromisoformat(row[1])
    assert row[0] == "s-1" and started.tzinfo is not None and started.timestamp() == 1_700_000_000

    assert ether(["sessions", "latest", "--config", "rig.yaml"]) == 0
    detail = capsys.readouterr().out
    iso = datetime.fromtimestamp(1_700_000_000.25).astimezone().isoformat("T", "milliseconds")
    assert f"started    {iso}" in detail, detail

    assert ether(["export", "latest", "--config", "rig.yaml"]) == 0
    out = tmp_path / "runs" / "export" / "s-1"
    with (out / "t.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert datetime.fromisoformat(rows[0]["host_time_iso"]).timestamp() == float(rows[0]["host_time"])


def test_a_config_without_recording_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "rig.yaml").write_text("instances: {}\n")
    assert ether(["sessions", "--config", str(tmp_path / "rig.yaml")]) == 2
    assert "has no recording section" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"just some text\n", b""])
def test_a_file_that_is_not_a_database_is_refused_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_bytes(content)
    for command in (["sessions"], ["export", "latest"], ["replay", "latest", "--publish", "ipc:///x"]):
        assert ether([*command, "--db", str(bad)]) == 1
        err = capsys.readouterr().err
        assert f"{bad}: not an Ether recording database (not a SQLite file)" in err, err
        assert "Traceback" not in err
    assert bad.read_bytes() == content


def test_another_sqlite_database_is_refused_and_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.sqlite"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE people (name TEXT)")
    db.commit()
    db.close()
    before = other.read_bytes()
    assert ether(["sessions", "--db", str(other)]) == 1
    assert "other.sqlite: a SQLite database but not an Ether recording" in capsys.readouterr().err
    assert other.read_bytes() == before
