"""Recorded arrays: kept with dtype and shape in the session's array file, exported to HDF5 that h5py reads
back bit-identical, republished as arrays by replay."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import cbor2
import h5py
import numpy as np
import zmq
from array_apps import frame
from fabric_harness import expect, fabric_client, tapped
from recorder_harness import running_broker

from ether_medium.fabric import arrays
from ether_medium.fabric.envelope import decode
from ether_medium.recorder.arrays import STORED_TAG, array_path
from ether_medium.recorder.replay import replay
from ether_medium.recorder.store import Store

SIZE = 300_000  # 1.2 MB float32: through shared memory


def _record(db: Path) -> str:
    config = {"instances": {"source": {"class_path": "array_apps.Source"},
                            "stats": {"class_path": "array_apps.Stats"}},
              "recording": {"path": str(db), "topics": ["frames", "stats"]}}
    with tapped(config), fabric_client("stats") as client:
        for n in range(4):
            client.publish("Source.make", {"n": n, "size": SIZE})
            assert expect(client, "stats")["n"] == n
    store = Store.open_existing(db)
    try:
        return store.sessions()[-1].id
    finally:
        store.close()


def test_recorded_arrays_export_to_hdf5_bit_identical_and_replay(tmp_path: Path) -> None:
    db = tmp_path / "ether.sqlite"
    sid = _record(db)
    assert array_path(db, sid).stat().st_size == 4 * SIZE * 4
    store = Store.open_existing(db)
    try:
        rows = list(store.messages(sid, ["frames"]))
        assert len(rows) == 4
        ref = cbor2.loads(rows[0][8])["frame"]
        assert ref.tag == STORED_TAG and ref.value[0] == "<f4" and list(ref.value[1]) == [SIZE]
    finally:
        store.close()

    out = tmp_path / "export"
    proc = subprocess.run([sys.executable, "-m", "ether_medium.cli", "export", sid, "--format", "hdf5",
                           "--db", str(db), "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "1 HDF5 file" in proc.stdout
    with h5py.File(out / "session.h5", "r") as h5:
        frames = h5["frames"]
        assert frames["frame"].shape == (4, SIZE) and frames["frame"].dtype == np.float32
        for n in range(4):
            assert frames["frame"][n].tobytes() == frame(n, SIZE).tobytes()
        assert list(frames["n"][:]) == [0, 1, 2, 3]
        assert np.all(np.diff(frames["host_time"][:]) > 0) and np.all(np.isnan(frames["device_time"][:]))
        assert frames["gain"].dtype == np.float64 and frames["gain"][0] == 1.5
        assert [s.decode() for s in frames["source"][:]] == ["source"] * 4
        assert list(h5["stats"]["n"][:]) == [0, 1, 2, 3] and "ether.session" in h5.attrs

    store = Store.open_existing(db)
    try:
        session = store.resolve(sid)
        with running_broker() as broker:
            sub = zmq.Context.instance().socket(zmq.SUB)
            sub.setsockopt(zmq.LINGER, 0)
            sub.connect(broker.addresses.subscribe)
            sub.setsockopt(zmq.SUBSCRIBE, b"frames")
            try:
                summary = replay(store, session, broker.addresses.publish, speed=100.0, topics=["frames"])
                assert summary.messages == 4
                got = []
                deadline = time.monotonic() + 10
                while len(got) < 4 and sub.poll(max(1, int((deadline - time.monotonic()) * 1000))):
                    got.append(arrays.incoming(decode(sub.recv_multipart()).data))
            finally:
                sub.close()
        assert [g["n"] for g in got] == [0, 1, 2, 3]
        for g in got:
            assert g["frame"].tobytes() == frame(g["n"], SIZE).tobytes()
    finally:
        store.close()


def test_csv_export_holds_recorded_arrays_as_lists(tmp_path: Path) -> None:
    import csv
    import json

    from ether_medium.recorder.export import export_csv
    from ether_medium.recorder.store import Store as _Store

    db = tmp_path / "ether.sqlite"
    store = _Store(db)
    store.begin_session("s1", {})
    from ether_medium.recorder.arrays import ArrayFile

    files = ArrayFile(db, "s1")
    payload = files.stored(cbor2.dumps({"a": arrays.to_wire(np.arange(600, dtype=np.int32)), "k": 1}))
    files.close()
    store.insert([("s1", "t", "src", 0, 1.0, None, None, None, payload)])
    store.end_session("s1", "normal")
    try:
        export_csv(store, store.resolve("s1"), tmp_path / "out")
    finally:
        store.close()
    with open(tmp_path / "out" / "t.csv") as fh:
        row = next(csv.DictReader(fh))
    assert json.loads(row["a"]) == list(range(600)) and row["k"] == "1"


def test_recorder_counts_an_array_whose_slot_was_overwritten_before_it_read_it(  # type: ignore[no-untyped-def]
        tmp_path: Path, monkeypatch, capfd) -> None:
    import uuid

    from recorder_harness import Publisher, query, recorder_process, wait_exit

    from ether_medium.fabric import shm

    monkeypatch.setenv("ETHER_ARRAYS_SLOTS", "2")
    db = tmp_path / "ether.sqlite"
    sid = str(uuid.uuid4())
    config = {"instances": {}, "recording": {"path": str(db), "bye_timeout_s": 3.0}}
    with running_broker() as broker, \
            recorder_process(broker.addresses, config, ["gen"], session_id=sid) as proc:
        tap, gen = Publisher(broker.addresses, "tap"), Publisher(broker.addresses, "gen")
        try:
            gen.wait_for_subscriber("cam")
            stale = shm.put("cam", frame(0, SIZE))
            for n in (1, 2):  # a 2-slot ring goes round once: the first slot now holds frame 2
                shm.put("cam", frame(n, SIZE))
            gen.publish("cam", {"frame": stale, "n": 0})
            gen.publish("cam", {"frame": shm.put("cam", frame(3, SIZE)), "n": 3})
            tap.shutdown()
            gen.bye()
            assert wait_exit(proc) == 0
        finally:
            for p in (tap, gen):
                p.close()
            shm.close_all()
    rows = query(db, "SELECT payload FROM messages WHERE session_id = ? AND topic = 'cam'", sid)
    assert [cbor2.loads(r[0])["n"] for r in rows] == [3], "the overwritten one is not stored torn"
    assert query(db, "SELECT malformed FROM sessions WHERE id = ?", sid) == [(1,)]
    assert "message on 'cam': field 'frame': slot overwritten before it was read" in capfd.readouterr().err
    path = array_path(db, sid)
    assert np.fromfile(path, np.float32).tobytes() == frame(3, SIZE).tobytes()
