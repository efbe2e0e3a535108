"""Arrays between real instance processes: inline and through shared memory, checked by the subscriber,
read-only there, and no shared-memory segment left behind (also after kill -9)."""

from __future__ import annotations

import hashlib
import os
import signal

from array_apps import frame
from conftest import wait_until
from fabric_harness import expect, fabric_client, tapped

from ether_medium.fabric import shm

CONFIG = {"instances": {"source": {"class_path": "array_apps.Source"},
                        "stats": {"class_path": "array_apps.Stats"}}}


def _segments() -> set[str]:
    return {n for n in os.listdir(shm.SHM_DIR) if n.startswith("ether-arr-")}


def _check(data: dict, n: int, size: int) -> None:
    want = frame(n, size)
    assert data["n"] == n and data["size"] == size and data["writable"] is False and data["gain"] == 1.5
    assert data["sha"] == hashlib.sha256(want.tobytes()).hexdigest()


def test_small_and_large_arrays_arrive_intact_and_read_only() -> None:
    before = _segments()
    with tapped(CONFIG), fabric_client("stats", "frames") as client:
        client.publish("Source.make", {"n": 1, "size": 100})  # 400 B: inline
        _check(expect(client, "stats"), 1, 100)
        client.publish("Source.make", {"n": 2, "size": 1024 * 1024})  # 4 MB: shared memory
        _check(expect(client, "stats"), 2, 1024 * 1024)
        pids = {p for n in _segments() - before if (p := int(n.split("-")[2]))}
        assert len(pids) == 1, "one publisher, one ring"
    assert not (_segments() - before), "segments unlinked when their publisher ended"


def test_dtype_mismatch_is_rejected_and_subscriber_keeps_running() -> None:
    with tapped(CONFIG) as logs, fabric_client("stats") as client:
        client.publish("Source.make", {"n": 3, "size": 10, "dtype": "float64"})
        line = logs.wait_for("rejected message", "'frames'")
        assert "field 'frame'" in line and "dtype float64, expected float32" in line
        client.publish("Source.make", {"n": 4, "size": 10})
        _check(expect(client, "stats"), 4, 10)


def test_unpublishable_array_is_logged() -> None:
    with tapped(CONFIG) as logs, fabric_client("stats") as client:
        client.publish("Source.strings", {})
        line = logs.wait_for("Source.strings", "cannot be published")
        assert "dtype <U1" in line
        client.publish("Source.nested", {})  # an array inside a map: said where, and what to do
        line = logs.wait_for("Source.nested", "cannot be published")
        assert "field 'channels'['a'] is an array inside a map or list" in line
        assert "as a field of its own (e.g. channels_a: ...)" in line
        client.publish("Source.make", {"n": 5, "size": 10})
        _check(expect(client, "stats"), 5, 10)


def test_plain_and_unannotated_parameters_and_shape_checks() -> None:
    config = {"instances": {"source": {"class_path": "array_apps.Source"},
                            "any": {"class_path": "array_apps.AnyStats"},
                            "square": {"class_path": "array_apps.Square"}}}
    with tapped(config) as logs, fabric_client("anystats", "squared") as client:
        client.publish("Source.make", {"n": 6, "size": 16})
        assert expect(client, "anystats") == {"n": 6, "dtype": "float32", "shape": [16]}
        line = logs.wait_for("rejected message", "Square.on_frame")
        assert "shape (16,), expected (4, 4)" in line


def test_segments_of_a_killed_publisher_are_removed() -> None:
    before = _segments()
    with tapped(CONFIG) as logs, fabric_client("stats") as client:
        client.publish("Source.make", {"n": 7, "size": 1024 * 1024})
        _check(expect(client, "stats"), 7, 1024 * 1024)
        ours = _segments() - before
        pid = int(next(iter(ours)).split("-")[2])
        os.kill(pid, signal.SIGKILL)
        logs.wait_for("source", "exit code -9")
        wait_until(lambda: not (ours & _segments()), timeout_s=10, what="the killed publisher's segments")


HOLDER = r"""
import sys, hashlib, cbor2
from ether_medium.fabric import arrays
desc = cbor2.loads(bytes.fromhex(sys.argv[1]))
a = arrays.incoming({"frame": desc})["frame"]
before = hashlib.sha256(a.tobytes()).hexdigest()
print("holding", flush=True)
sys.stdin.readline()  # the test publishes meanwhile: this slot must not change
print("same" if hashlib.sha256(a.tobytes()).hexdigest() == before else "changed", flush=True)
"""


def test_publisher_never_overwrites_a_slot_a_subscriber_holds(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    import cbor2

    from ether_medium.fabric import arrays

    monkeypatch.setenv("ETHER_ARRAYS_SLOTS", "3")
    desc = arrays.outgoing({"frame": frame(0, 300_000)}, "test.held", shared=True)
    assert desc is not None
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, cbor2.dumps(desc["frame"]).hex()],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "holding"
        for n in range(1, 10):  # three rounds of a 3-slot ring: the held slot is skipped every time
            out = arrays.outgoing({"frame": frame(n, 300_000)}, "test.held", shared=True)
            assert out is not None and out["frame"].value[1] != desc["frame"].value[1]
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "same"
    finally:
        proc.kill()
        proc.wait()
        shm.close_all()


def test_a_fabric_other_machines_join_sends_arrays_inline() -> None:
    from test_fabric_machines import free_port_pair

    before = _segments()
    config = {**CONFIG, "fabric": {"transport": "tcp", "host": "127.0.0.1", "port": free_port_pair()}}
    with tapped(config), fabric_client("stats") as client:
        client.publish("Source.make", {"n": 8, "size": 1024 * 1024})
        _check(expect(client, "stats"), 8, 1024 * 1024)
        assert not (_segments() - before), "no shared memory: a joined machine could not read it"
    assert os.environ.get("ETHER_ARRAYS_SHM_BYTES") is None, "the setting ends with the session"


def test_a_slow_subscriber_drops_overwritten_arrays_and_never_reads_torn(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ETHER_ARRAYS_SLOTS", "2")  # the processes forked by tap inherit it
    config = {"instances": {"source": {"class_path": "array_apps.Source"},
                            "slow": {"class_path": "array_apps.SlowStats"}}}
    size = 1024 * 1024
    with tapped(config) as logs, fabric_client("stats", "slow.holding") as client:
        # frame 0 holds one slot for a second (the subscriber says when it holds it); 1..5 share the other
        client.publish("Source.make", {"n": 0, "size": size})
        expect(client, "slow.holding", timeout=30.0)
        for n in range(1, 6):
            client.publish("Source.make", {"n": n, "size": size})
        _check(expect(client, "stats"), 0, size)  # unchanged although the ring went round meanwhile
        line = logs.wait_for("rejected message", "'frames'", "slot overwritten before it was read")
        assert "SlowStats.on_frame" in line
        last = expect(client, "stats")
        _check(last, last["n"], size)
        assert last["n"] == 5


WRITER = r"""
import cbor2
from array_apps import frame
from ether_medium.fabric import arrays
desc = arrays.outgoing({"frame": frame(3, 300_000)}, "test.last", shared=True)
print(cbor2.dumps(desc["frame"]).hex(), flush=True)
"""


def test_a_launched_publishers_last_arrays_outlive_it_until_the_launcher_removes_them() -> None:
    """The recorder may read a process's last arrays after the process ended (shutdown): a launcher's child
    leaves its segments, and the launcher removes them once the recorder drained (``shm.remove_stale``)."""
    import subprocess
    import sys
    from pathlib import Path

    import cbor2

    from ether_medium.fabric import arrays

    here = str(Path(__file__).parent)
    for left in (True, False):
        env = {**os.environ, "PYTHONPATH": here + os.pathsep + os.environ.get("PYTHONPATH", "")}
        env.pop(shm.LEFT_TO_LAUNCHER, None)
        if left:
            env[shm.LEFT_TO_LAUNCHER] = "1"
        out = subprocess.run([sys.executable, "-c", WRITER], env=env, capture_output=True, text=True,
                             timeout=60, check=True)
        desc = cbor2.loads(bytes.fromhex(out.stdout.strip()))
        name = desc.value[0]
        if left:  # the writer has exited: its last array is still there to read, intact
            got = arrays.incoming({"frame": desc})["frame"]
            assert got.tobytes() == frame(3, 300_000).tobytes()
            shm.release()
            assert name in _segments()
            assert name in shm.remove_stale()
        assert name not in _segments()
