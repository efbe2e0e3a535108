"""The recorder process against a real broker and a real SQLite file: what it keeps, and how sessions end."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cbor2
from conftest import wait_until
from recorder_harness import Publisher, publisher, query, recorder_process, running_broker, wait_exit

from ether_medium.recorder.store import Store


def _config(db: Path, topics: list[str] | None = None, **extra: object) -> dict[str, object]:
    rec: dict[str, object] = {"path": str(db), "bye_timeout_s": 3.0, **extra}
    if topics is not None:
        rec["topics"] = topics
    return {"instances": {}, "recording": rec}


@contextlib.contextmanager
def _recording_gen(
    config: dict[str, object], wait_for: Sequence[str] = ("gen",), topics: Sequence[str] = ("data",),
    **recorder: Any,
) -> Iterator[tuple[Any, Publisher]]:
    """A broker, a recorder process for ``config`` that waits for the byes of ``wait_for``, and the publisher
    ``gen`` once the recorder's subscriptions to ``topics`` reached it."""
    with (
        running_broker() as broker,
        recorder_process(broker.addresses, config, list(wait_for), **recorder) as proc,
        publisher(broker.addresses, "gen", *topics) as gen,
    ):
        yield proc, gen


def _wait_rows(db: Path, n: int) -> None:
    wait_until(lambda: query(db, "SELECT count(*) FROM messages")[0][0] >= n, 20, f"{n} rows committed")


def test_everything_published_before_shutdown_is_committed(tmp_path: Path) -> None:
    db = tmp_path / "ether.sqlite"
    sid = str(uuid.uuid4())
    n = 3000
    with (
        running_broker() as broker,
        recorder_process(broker.addresses, _config(db), ["gen", "dev"], session_id=sid) as proc,
        publisher(broker.addresses, "tap", "data") as tap,
        publisher(broker.addresses, "gen", "data") as gen,
        publisher(broker.addresses, "dev", "data") as dev,
    ):
        dev.publish("Ether.device", {"name": "dev", "device_id": "e66038b7", "firmware": "1.2",
                                     "protocol": 1, "boot_id": 7})
        for i in range(n):
            gen.publish("data", {"value": i, "label": f"x{i}"})
        for i in range(5):
            dev.publish("board.temp", {"celsius": 20.5 + i}, device_time=100.0 + i,
                        device_uncertainty=0.0005, device_seq=40 + i)
        gen.publish("Ether.saved", {"total": n})
        tap.shutdown()
        # the processes see the shutdown, then each says bye as its last message
        gen.publish("data", {"value": n, "label": "after shutdown, before bye"})
        gen.bye()
        dev.bye()
        assert wait_exit(proc) == 0

    rows = query(db, "SELECT seq, payload, device_time FROM messages WHERE session_id = ? AND topic = 'data'"
                 " ORDER BY seq", sid)
    assert [r[0] for r in rows] == list(range(n + 1))
    assert cbor2.loads(rows[5][1]) == {"value": 5, "label": "x5"}
    assert all(r[2] is None for r in rows)  # host rows carry no device time

    dev_rows = query(db, "SELECT source, device_time, device_uncertainty, device_seq, payload FROM messages"
                     " WHERE topic = 'board.temp' ORDER BY seq")
    assert dev_rows[0][:4] == ("dev", 100.0, 0.0005, 40)
    assert cbor2.loads(dev_rows[4][4]) == {"celsius": 24.5}

    saved = query(db, "SELECT source, payload FROM messages WHERE topic = 'Ether.saved'")
    assert [(s, cbor2.loads(p)) for s, p in saved] == [("gen", {"total": n})]
    assert query(db, "SELECT count(*) FROM messages WHERE topic IN ('Ether.shutdown', 'Ether.bye')") == [(0,)]

    status, ended, started, versions, config, note, pid = query(
        db, "SELECT status, ended, started, versions, config, note, pid FROM sessions WHERE id = ?", sid)[0]
    assert (status, note) == ("normal", None)
    assert ended >= started
    assert pid == proc.pid
    v = json.loads(versions)
    assert v["ether-medium"] and v["python"] and v["platform"]
    assert [(d["name"], d["device_id"], d["firmware"]) for d in v["devices"]] == [("dev", "e66038b7", "1.2")]
    assert json.loads(config)["config"]["recording"]["path"] == str(db)


def test_missing_bye_ends_the_drain_at_the_deadline_and_is_noted(tmp_path: Path) -> None:
    db = tmp_path / "ether.sqlite"
    sid = str(uuid.uuid4())
    config = _config(db, bye_timeout_s=0.3)
    with _recording_gen(config, ["gen", "ghost"], session_id=sid) as (proc, gen):
        gen.publish("data", {"value": 1})
        gen.shutdown()
        gen.bye()
        assert wait_exit(proc) == 0
    assert query(db, "SELECT status, note FROM sessions") == [("normal", "no Ether.bye from: ghost")]
    assert query(db, "SELECT count(*) FROM messages") == [(1,)]


def test_exited_stands_for_a_bye_until_the_process_is_ready_again(tmp_path: Path) -> None:
    db = tmp_path / "ether.sqlite"
    config = _config(db, bye_timeout_s=20.0)
    with (
        running_broker() as broker,
        recorder_process(broker.addresses, config, ["ether", "crashed", "flaky"]) as proc,
        publisher(broker.addresses, "ether", "Ether.exited") as tap,
        publisher(broker.addresses, "flaky", "data") as flaky,
    ):
        tap.publish("Ether.exited", {"name": "crashed", "code": -9})  # died: no bye will come
        tap.publish("Ether.exited", {"name": "flaky", "code": 1})
        _wait_rows(db, 2)  # (order between two publishers is not guaranteed)
        flaky.publish("Ether.ready", {"name": "flaky"})  # ...restarted: its bye is awaited again
        tap.shutdown()
        tap.bye()
        flaky.publish("data", {"value": 1})
        flaky.bye()
        assert wait_exit(proc) == 0
    assert query(db, "SELECT status, note FROM sessions") == [("normal", None)]
    assert query(db, "SELECT topic FROM messages ORDER BY rowid") == [("Ether.exited",), ("Ether.exited",),
                                                                      ("data",)]


def test_glob_selection(tmp_path: Path) -> None:
    db = tmp_path / "ether.sqlite"
    config = _config(db, topics=["sensor.*", "exact", "Ether.start"])
    with _recording_gen(config, topics=("sensor.a", "exact")) as (proc, gen):
        for topic in ("sensor.a", "sensor.b", "exact", "exactly", "other.x", "sensor", "Ether.start",
                      "Ether.init", "Ether.log", "Ether.saved"):
            gen.publish(topic, {"v": 1})
        gen.shutdown()
        gen.bye()
        assert wait_exit(proc) == 0
    topics = [t for (t,) in query(db, "SELECT topic FROM messages ORDER BY topic")]
    assert topics == ["Ether.log", "Ether.saved", "Ether.start", "exact", "sensor.a", "sensor.b"]


def test_malformed_messages_are_counted_and_logged_not_fatal(tmp_path: Path, capfd) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "ether.sqlite"
    with _recording_gen(_config(db)) as (proc, gen):
        gen.publish("data", {"value": 0})
        gen.send_raw([b"data", b"\xff\x00 not cbor"])
        gen.send_raw([b"data", cbor2.dumps([1, 2, 3])])
        gen.send_raw([b"data", cbor2.dumps({"d": {"value": 9}, "s": "gen"})])  # no seq, no time
        gen.send_raw([b"data", b"x", b"third frame"])
        gen.send_raw([b"da\xffta", cbor2.dumps({"d": {}, "s": "gen", "q": 0, "t": 0.0})])
        gen.send_raw([b"data", cbor2.dumps({"d": {"value": 8}, "s": "gen", "q": 2**70, "t": 0.0})])
        gen.publish("data", {"value": 1})
        gen.shutdown()
        gen.bye()
        assert wait_exit(proc) == 0
    assert query(db, "SELECT status, malformed FROM sessions") == [("normal", 6)]
    assert [cbor2.loads(p) for (p,) in query(db, "SELECT payload FROM messages ORDER BY rowid")] == [
        {"value": 0}, {"value": 1}]
    err = capfd.readouterr().err
    assert "malformed message #1 not recorded: body of 'data' is not CBOR" in err
    assert "lacks field 'q'" in err
    assert "expected 2 frames" in err
    assert "topic is not UTF-8" in err
    assert f"refused by the database, not recorded: topic 'data', source 'gen', seq {2**70}" in err


def test_kill_9_keeps_committed_rows_and_next_start_marks_interrupted(tmp_path: Path) -> None:
    db = tmp_path / "ether.sqlite"
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    config = _config(db, flush_interval_ms=20)
    with running_broker() as broker:
        with (
            recorder_process(broker.addresses, config, ["gen"], session_id=first) as proc,
            publisher(broker.addresses, "gen", "data") as gen,
        ):
            for i in range(500):
                gen.publish("data", {"value": i})
            _wait_rows(db, 500)
            for i in range(500, 20000):
                gen.publish("data", {"value": i})
            committed = query(db, "SELECT seq FROM messages ORDER BY seq")
            assert proc.pid is not None
            os.kill(proc.pid, signal.SIGKILL)
            proc.join(10)
            assert proc.exitcode == -signal.SIGKILL
        after = query(db, "SELECT seq FROM messages ORDER BY seq")
        assert after[: len(committed)] == committed  # every committed row is still there
        assert [s for (s,) in after] == list(range(len(after)))  # and nothing in between went missing
        assert query(db, "SELECT status FROM sessions WHERE id = ?", first) == [("running",)]

        with recorder_process(broker.addresses, config, [], session_id=second) as proc2:
            status, ended, note = query(db, "SELECT status, ended, note FROM sessions WHERE id = ?", first)[0]
            assert status == "interrupted"
            assert ended == max(query(db, "SELECT host_time FROM messages WHERE session_id = ?", first))[0]
            assert "died" in note
            assert query(db, "SELECT status FROM sessions WHERE id = ?", second) == [("running",)]
            assert proc2.pid is not None
            os.kill(proc2.pid, signal.SIGTERM)  # a signal ends a session as interrupted, after committing
            assert wait_exit(proc2) == 2
        assert query(db, "SELECT status, note FROM sessions WHERE id = ?", second) == [
            ("interrupted", "stopped by a signal")]


def test_sigint_drains_until_bye(tmp_path: Path) -> None:
    """Ctrl-C reaches every process of the group: the recorder drains instead of dropping the tail."""
    db = tmp_path / "ether.sqlite"
    config = _config(db, bye_timeout_s=20.0)
    with _recording_gen(config) as (proc, gen):
        gen.publish("data", {"value": 0})
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGINT)
        _wait_rows(db, 1)
        assert proc.is_alive()  # still draining: waiting for gen's bye
        gen.publish("data", {"value": 1})
        gen.bye()
        assert wait_exit(proc) == 0
    assert query(db, "SELECT status, note FROM sessions") == [("normal", None)]
    assert query(db, "SELECT count(*) FROM messages") == [(2,)]


def test_service_main_is_the_launcher_entry_point(tmp_path: Path) -> None:
    db = tmp_path / "ether.sqlite"
    with _recording_gen(_config(db), via_service=True) as (proc, gen):
        gen.publish("data", {"value": 0}, device_time=3.0, device_seq=1)  # no uncertainty given
        gen.shutdown()
        gen.bye()
        assert wait_exit(proc) == 0
    assert query(db, "SELECT status FROM sessions") == [("normal",)]
    assert query(db, "SELECT device_time, device_uncertainty, device_seq FROM messages") == [(3.0, None, 1)]


def _disk(db: Path, full: bool) -> None:
    """A disk that fills up and frees again, as SQLite sees it: a trigger refuses every insert while the
    ``disk`` table says full (a real SQLite failure inside the recorder's own transaction)."""
    conn = sqlite3.connect(db)
    conn.execute("UPDATE disk SET full = ?", (int(full),))
    conn.commit()
    conn.close()


def _failing_disk(db: Path) -> None:
    Store(db).close()
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE disk (full INTEGER)")
    conn.execute("INSERT INTO disk VALUES (0)")
    conn.execute("CREATE TRIGGER disk_full BEFORE INSERT ON messages WHEN (SELECT full FROM disk)"
                 " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    conn.commit()
    conn.close()


def test_database_failing_until_the_end_counts_the_unwritten_rows(tmp_path: Path, capfd) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "ether.sqlite"
    _failing_disk(db)
    with _recording_gen(_config(db)) as (proc, gen):
        for i in range(100):
            gen.publish("data", {"value": i})
        _wait_rows(db, 100)
        _disk(db, full=True)
        for i in range(100, 200):
            gen.publish("data", {"value": i})
        gen.shutdown()
        gen.bye()
        assert wait_exit(proc) == 1  # it could not write everything: an error, said in the session row
    status, note, unwritten = query(db, "SELECT status, note, unwritten FROM sessions")[0]
    assert status == "error" and unwritten == 100
    assert note.startswith("writing failed: IntegrityError: database or disk is full") and "100 rows" in note
    assert query(db, "SELECT count(*) FROM messages") == [(100,)]
    err = capfd.readouterr().err
    assert f"recording to {db} failed: IntegrityError: database or disk is full" in err


def test_database_failure_is_retried_and_nothing_is_lost(tmp_path: Path, capfd) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "ether.sqlite"
    _failing_disk(db)
    with _recording_gen(_config(db)) as (proc, gen):
        gen.publish("data", {"value": 0})
        _wait_rows(db, 1)
        _disk(db, full=True)
        for i in range(1, 300):
            gen.publish("data", {"value": i})
        text = _wait_log(capfd, f"recording to {db} failed: IntegrityError: database or disk is full")
        _disk(db, full=False)  # space freed: the next retry writes what was held
        _wait_rows(db, 300)
        gen.shutdown()
        gen.bye()
        assert wait_exit(proc) == 0
    assert query(db, "SELECT status, unwritten FROM sessions") == [("normal", 0)]
    assert [v for (v,) in query(db, "SELECT seq FROM messages ORDER BY seq")] == list(range(300))
    assert "works again after" in text + capfd.readouterr().err


def _wait_log(capfd, *needles: str) -> str:  # type: ignore[no-untyped-def]
    """The recorder process's stderr until a line holds every needle (an event, with a deadline)."""
    seen: list[str] = []

    def found() -> bool:
        seen.append(capfd.readouterr().err)
        return any(all(n in line for n in needles) for line in "".join(seen).splitlines())

    wait_until(found, 10, f"a log line with {needles}", interval_s=0.05)
    return "".join(seen)


def test_rows_beyond_the_buffer_are_counted_while_the_database_fails(tmp_path: Path, capfd) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "ether.sqlite"
    _failing_disk(db)
    with _recording_gen(_config(db, buffer_rows=50)) as (proc, gen):
        _disk(db, full=True)
        for i in range(200):
            gen.publish("data", {"value": i})
        _wait_log(capfd, "still fails after", "rows held")  # it retried once: every row arrived meanwhile
        _disk(db, full=False)
        _wait_rows(db, 50)
        gen.shutdown()
        gen.bye()
        assert wait_exit(proc) == 0
    status, unwritten, note = query(db, "SELECT status, unwritten, note FROM sessions")[0]
    assert status == "normal" and unwritten == 150 and "150 rows not written" in note
    assert query(db, "SELECT count(*) FROM messages") == [(50,)]


