"""`ether replay` republishes a recorded session into a running broker with the recorded spacing."""

from __future__ import annotations

import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cbor2
import pytest
import zmq
from recorder_harness import running_broker

from ether_medium.errors import FabricNotFound
from ether_medium.fabric.envelope import decode
from ether_medium.recorder.replay import fabric_publish_address, replayed_topics
from ether_medium.recorder.store import Store

GAP_S = 0.2


def _session(db: Path) -> list[float]:
    """Session 'replay-1': 6 messages on 'rig.a' GAP_S apart, 'rig.b' between them; returns the times."""
    store = Store(db)
    store.begin_session("replay-1", {})
    t0 = 1_700_000_000.0
    times = [t0 + i * GAP_S for i in range(6)]
    rows = []
    for i, t in enumerate(times):
        rows.append(("replay-1", "rig.a", "gen", i, t, 10.0 + i, 0.002, 100 + i, cbor2.dumps({"i": i})))
        rows.append(("replay-1", "rig.b", "gen", i, t + GAP_S / 2, None, None, None, cbor2.dumps({"b": i})))
    store.insert(rows)
    store.end_session("replay-1", "normal")
    store.close()
    return times


def test_replay_keeps_spacing_scaled_by_speed(tmp_path: Path) -> None:
    db = tmp_path / "ether.sqlite"
    times = _session(db)
    with running_broker() as broker:
        sub = zmq.Context.instance().socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.connect(broker.addresses.subscribe)
        sub.setsockopt(zmq.SUBSCRIBE, b"rig.")
        proc = subprocess.Popen(
            [sys.executable, "-m", "ether_medium.cli", "replay", "replay", "--speed", "2.0", "--topics",
             "rig.a", "--publish", broker.addresses.publish, "--db", str(db)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            received = []
            deadline = time.monotonic() + 30
            while len(received) < len(times):
                left = deadline - time.monotonic()
                assert left > 0 and sub.poll(int(left * 1000)), f"got {len(received)} of {len(times)}"
                received.append((time.monotonic(), decode(sub.recv_multipart())))
            out, err = proc.communicate(timeout=30)
            assert proc.returncode == 0, err
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
            sub.close()
    assert f"replayed {len(times)} messages" in out
    envs = [e for _, e in received]
    assert [e.topic for e in envs] == ["rig.a"] * len(times)  # --topics left rig.b out
    assert [e.data for e in envs] == [{"i": i} for i in range(len(times))]
    provenance = [(e.source, e.seq, e.host_time, e.device_time, e.device_uncertainty, e.device_seq)
                  for e in envs]
    assert provenance == [("gen", i, t, 10.0 + i, 0.002, 100 + i) for i, t in enumerate(times)]
    arrivals = [t for t, _ in received]
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    expected = GAP_S / 2.0  # --speed 2.0 halves the recorded gaps
    # Replay keeps to a schedule (message i at start + recorded offset / speed), so one message a busy machine
    # delivers late is followed by one that catches up: single gaps are not the measure, the schedule is.
    # The span from first to last lies between "no spacing at all" (0) and "speed ignored" (2 x expected),
    # and the typical (median) gap is the scaled one.
    span = arrivals[-1] - arrivals[0]
    assert 0.5 * expected * len(gaps) < span < 1.9 * expected * len(gaps), gaps
    assert 0.5 * expected < statistics.median(gaps) < 1.5 * expected, gaps
    assert abs((arrivals[-1] - arrivals[0]) - expected * (len(times) - 1)) < 0.15, gaps


def test_fabric_address_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("ETHER_PUBLISH", "ETHER_STATE_DIR", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(FabricNotFound, match="pass --publish ADDRESS"):
        fabric_publish_address(None, tmp_path)
    (tmp_path / ".ether").mkdir()
    fabric = {"pid": os.getpid(), "session": "s", "ETHER_PUBLISH": "ipc:///x/pub", "ETHER_SUBSCRIBE": "ipc:///x/sub"}
    (tmp_path / ".ether" / "fabric.json").write_text(json.dumps(fabric))
    assert fabric_publish_address(None, tmp_path) == "ipc:///x/pub"

    state = tmp_path / "state"
    state.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (state / "fabric.json").write_text(json.dumps({**fabric, "pid": dead.pid}))
    monkeypatch.setenv("ETHER_STATE_DIR", str(state))
    assert fabric_publish_address(None, tmp_path) == "ipc:///x/pub"  # the stale file is skipped
    (tmp_path / ".ether" / "fabric.json").unlink()
    with pytest.raises(FabricNotFound, match=f"no longer running \\(PID {dead.pid} is gone\\)"):
        fabric_publish_address(None, tmp_path)

    monkeypatch.setenv("ETHER_PUBLISH", "tcp://127.0.0.1:5555")
    assert fabric_publish_address(None, tmp_path) == "tcp://127.0.0.1:5555"
    assert fabric_publish_address("ipc:///given", tmp_path) == "ipc:///given"


def test_lifecycle_topics_are_replayed_only_when_named() -> None:
    recorded = ["Ether.log", "Ether.saved", "Ether.shutdown", "rig.a", "rig.b"]
    assert replayed_topics(recorded, None) == ["rig.a", "rig.b"]
    assert replayed_topics(recorded, ["*"]) == ["rig.a", "rig.b"]
    assert replayed_topics(recorded, ["rig.*", "Ether.sa*"]) == ["Ether.saved", "rig.a", "rig.b"]
