"""Any envelope on a recorded topic: the recorder's parser gives a row the database takes or refuses row by
row (never an error that stops recording), and a real recorder keeps recording fresh messages after them.

The long version (a million inputs, with memory figures) is ``bench/fuzz.py``.
"""

from __future__ import annotations

import contextlib
import csv
import math
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cbor2
import pytest
from hostile_inputs import CYCLIC_LIST, envelope_bodies
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from recorder_harness import Publisher, running_broker

from ether_medium.cli import main as ether
from ether_medium.config import load_config
from ether_medium.fabric.broker import Broker
from ether_medium.recorder.export import export_csv
from ether_medium.recorder.parquet import export_parquet
from ether_medium.recorder.recorder import Recorder, RecordingSummary
from ether_medium.recorder.rows import row_parser
from ether_medium.recorder.schema import ROW_WIDTH
from ether_medium.recorder.store import Store
from ether_medium.recorder.writer import _ROW_ERRORS, BatchWriter

FIXTURES = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow (the 'parquet' extra) is not installed")


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    with tempfile.TemporaryDirectory() as tmp:
        s = Store(Path(tmp) / "ether.sqlite")
        s.begin_session("s", {})
        try:
            yield s
        finally:
            s.close()


@given(body=envelope_bodies())
@settings(max_examples=500, suppress_health_check=FIXTURES, deadline=None)
def test_row_parser_gives_a_storable_row_or_raises(store: Store, body: bytes) -> None:
    row = row_parser()
    try:
        values = row("data", body)
    except Exception:
        return  # the recorder counts it as malformed and drops it
    assert len(values) == ROW_WIDTH
    _, source, seq, host_time, _, _, _, payload = values
    assert type(source) is str and type(seq) is int and type(payload) is bytes
    assert type(host_time) is float and math.isfinite(host_time)
    assert type(cbor2.loads(payload)) is dict
    try:
        store.insert_flat("s", values)
    except _ROW_ERRORS:
        return  # refused row by row: counted by the writer, the others are written
    store.commit()


def test_writer_keeps_recording_after_a_device_identity_json_cannot_hold(tmp_path: Path) -> None:
    store = Store(tmp_path / "ether.sqlite")
    store.begin_session("s", {})
    writer = BatchWriter(store, "s", load_config({"recording": {}}).recording)  # type: ignore[arg-type]
    writer.start()
    cyclic = cbor2.loads(b"\xd8\x1c\xa1\x61x\xd8\x1d\x00")
    writer.queue.put({b"not text": 1, "name": "board"})
    writer.queue.put({"name": "board", "odd": cyclic})
    writer.queue.put(["data", "gen", 0, 1.0, None, None, None, cbor2.dumps({"v": 1})])
    writer.queue.put(None)
    writer.join(10)
    assert writer.error is None and writer.committed == 1 and writer.rejected == 2
    store.close()


def _record(broker: Broker, db: Path,
            messages: list[tuple[bytes, bytes]]) -> tuple[RecordingSummary, list[Any]]:
    """A real recorder (in a thread of this process) records a valid message, ``messages``, another valid
    message, then the publisher's shutdown and bye."""
    sid = str(uuid.uuid4())
    config = load_config({"recording": {"path": str(db), "topics": ["data", "Ether.*"]}})
    recorder = Recorder(broker.addresses, sid, config, wait_for=["gen"])
    ready = threading.Event()
    result: list[RecordingSummary] = []
    thread = threading.Thread(target=lambda: result.append(recorder.run(ready.set)), daemon=True)
    thread.start()
    gen = Publisher(broker.addresses, "gen")
    try:
        assert ready.wait(10)
        gen.wait_for_subscriber("data")
        gen.publish("data", {"v": "before"})
        for frames in messages:
            gen.send_raw(list(frames))
        gen.publish("data", {"v": "after"})
        gen.shutdown()
        gen.bye()
        thread.join(20)
        assert not thread.is_alive(), "the recorder did not finish"
    finally:
        gen.close()
    store = Store(db)
    try:
        rows = [cbor2.loads(r[8]) for r in store.messages(sid, ["data"])]
    finally:
        store.close()
    return result[0], rows


HOSTILE_TOPICS = st.sampled_from([b"data", b"Ether.device", b"Ether.ready", b"Ether.log", b"Ether.saved",
                                  b"Ether.exited", b"Ether.start"])


@given(messages=st.lists(st.tuples(HOSTILE_TOPICS, envelope_bodies()), min_size=1, max_size=30))
@settings(max_examples=10, suppress_health_check=FIXTURES, deadline=None)
def test_recorder_records_fresh_messages_after_any_envelopes(messages: list[tuple[bytes, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp, running_broker() as broker:
        summary, rows = _record(broker, Path(tmp) / "ether.sqlite", messages)
    assert summary.status == "normal", summary.note
    assert {"v": "before"} in rows and {"v": "after"} in rows  # (rows are in host-time order)


def test_recorder_counts_out_of_range_envelopes(tmp_path: Path) -> None:
    bad = [
        (b"data", cbor2.dumps({"d": {"v": 1}, "s": "x", "q": math.inf, "t": 1.0})),
        (b"data", cbor2.dumps({"d": {"v": 1}, "s": "x", "q": 1, "t": 10**400})),
        (b"data", cbor2.dumps({"d": {"v": 1}, "s": "x", "q": 1, "t": math.nan})),
        (b"Ether.device", cbor2.dumps({"d": {"name": 1}, "s": "x", "q": math.inf, "t": 1.0})),
        (b"Ether.ready", cbor2.dumps({"d": {"name": 10**5000}, "s": "x", "q": 1, "t": 1.0})),
    ]
    with running_broker() as broker:
        start = time.monotonic()
        summary, rows = _record(broker, tmp_path / "ether.sqlite", bad)
    assert time.monotonic() - start < 20
    assert summary.status == "normal" and summary.malformed == 5
    assert rows == [{"v": "before"}, {"v": "after"}]


def _store_with(db: Path, payloads: list[bytes]) -> None:
    store = Store(db)
    store.begin_session("s1", {})
    for i, payload in enumerate(payloads):
        store.insert([("s1", "odd/topic", "gen", i, 1.0 + i, None, None, None, payload)])
    store.end_session("s1", "normal")
    store.close()


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@given(bodies=st.lists(envelope_bodies(), min_size=1, max_size=20))
@settings(max_examples=40, suppress_health_check=FIXTURES, deadline=None)
def test_exports_write_every_row_of_any_recording(bodies: list[bytes]) -> None:
    """Whatever the recorder's parser let into the database, and payloads that are not CBOR at all."""
    row = row_parser()
    payloads = [b"\xff not cbor", b"\x05"]
    for body in bodies:
        with contextlib.suppress(Exception):
            payloads.append(row("t", body)[7])
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "ether.sqlite"
        _store_with(db, payloads)
        store = Store(db)
        try:
            session = store.resolve("latest")
            csv_out = export_csv(store, session, Path(tmp) / "csv")
            pq_out = export_parquet(store, session, Path(tmp) / "pq")
        finally:
            store.close()
        assert len(_csv_rows(csv_out.paths[1])) == len(payloads)
        assert pq.read_table(pq_out.paths[1]).num_rows == len(payloads)
        assert csv_out.converted >= 1  # the payload that is not CBOR, at least


def test_export_writes_values_the_format_cannot_hold_as_text(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "ether.sqlite"
    cyclic = b"\xa2\x61c" + CYCLIC_LIST + b"\x61n\x01"  # {"c": <a list holding itself>, "n": 1}
    _store_with(db, [cyclic, cbor2.dumps({"c": [], "n": 2**70}), cbor2.dumps({"c": [1], "n": 3})])
    assert ether(["export", "latest", "--db", str(db), "--out", str(tmp_path / "csv")]) == 0
    out = capsys.readouterr().out
    assert "1 value written as text: the csv format cannot hold them as they are" in out
    assert [(r["c"], r["n"]) for r in _csv_rows(tmp_path / "csv" / "odd_topic.csv")] == [
        ("[<cycle>]", "1"), ("[]", str(2**70)), ("[1]", "3")]
    assert ether(["export", "latest", "--format", "parquet", "--db", str(db),
                  "--out", str(tmp_path / "pq")]) == 0
    out = capsys.readouterr().out
    assert "4 values written as text: the parquet format cannot hold them as they are" in out
    table = pq.read_table(tmp_path / "pq" / "odd_topic.parquet")
    assert table.column("n").to_pylist() == ["1", str(2**70), "3"]
    assert table.column("c").to_pylist() == ["[<cycle>]", "[]", "[1]"]
