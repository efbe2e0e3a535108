"""Lifecycle: every handler fires exactly once, in order; misuse of tap/start/shutdown never hangs;
transparent fallback; crashed instances are reported and restarted; stragglers are stopped."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from fabric_apps import Adder, BrokenConstructor, LifecycleRecorder
from fabric_harness import expect, fabric_client, tapped

from ether_medium import ether
from ether_medium.errors import EtherError
from ether_medium.fabric.decorators import set_publish_hook


def _lifecycle_config(tmp_path: Path, n: int = 2, **kwargs: object) -> dict[str, object]:
    return {
        "instances": {
            f"rec{i}": {
                "class_path": "fabric_apps.LifecycleRecorder",
                "kwargs": {"path": str(tmp_path / f"rec{i}.txt"), **kwargs},
            }
            for i in range(n)
        }
    }


def test_every_handler_fires_once_in_order(tmp_path: Path) -> None:
    with tapped(_lifecycle_config(tmp_path)):
        pass
    for i in range(2):
        lines = (tmp_path / f"rec{i}.txt").read_text().split()
        assert lines == ["init", "start", "save", "cleanup", "shutdown"]


def test_save_results_are_published_on_ether_saved(tmp_path: Path) -> None:
    ether.tap(config=_lifecycle_config(tmp_path, n=1))
    received: list[tuple[str, dict[str, object]]] = []
    listening = threading.Event()

    def listen() -> None:
        with fabric_client("Ether.saved", name="listener") as client:
            listening.set()
            env = client.wait_for("Ether.saved", 10.0)
            if env is not None:
                received.append((env.source, env.data))

    thread = threading.Thread(target=listen)
    thread.start()
    try:
        assert listening.wait(10.0)
        ether.start()
    finally:
        ether.shutdown()
        thread.join(15.0)
    assert received and received[0][0] == "rec0"
    assert received[0][1]["path"] == str(tmp_path / "rec0.txt")


def test_users_handlers_are_not_shadowed() -> None:
    assert LifecycleRecorder("/dev/null").cleanup() == "user cleanup"


def test_fallback_before_tap_and_after_shutdown(tmp_path: Path) -> None:
    assert ether.launcher is None
    assert Adder(offset=1).add(x=2) == {"total": 4}
    with pytest.raises(TypeError):
        BrokenConstructor()  # type: ignore[call-arg]
    with tapped({"instances": {}}):
        pass
    assert Adder(offset=1).add(x=2, y=3) == {"total": 6}
    with pytest.raises(TypeError):
        Adder(1, 2, 3)  # type: ignore[call-arg]


def test_start_before_tap_raises() -> None:
    with pytest.raises(EtherError, match=r"before ether.tap"):
        ether.start()


def test_shutdown_without_tap_and_twice_is_a_no_op() -> None:
    ether.shutdown()
    ether.tap(config={"instances": {}})
    ether.shutdown()
    ether.shutdown()
    assert ether.launcher is None


def test_double_tap_raises_and_double_start_is_harmless() -> None:
    with tapped({"instances": {"adder": {"class_path": "fabric_apps.Adder"}}}) as logs:
        with pytest.raises(EtherError, match="already called"):
            ether.tap(config={"instances": {}})
        ether.start()
        logs.wait_for("already called; ignoring")
        with fabric_client("sum") as client:
            client.publish("Adder.add", {"x": 1})
            assert expect(client, "sum") == {"total": 2}


def test_shutdown_stops_every_process_and_removes_the_sockets(tmp_path: Path) -> None:
    ether.tap(config=_lifecycle_config(tmp_path, n=3))
    launcher = ether.launcher
    assert launcher is not None
    pids = [c.proc.pid for c in launcher.children.values() if c.proc is not None]
    socket_dir = Path(launcher.addresses.publish.removeprefix("ipc://")).parent
    assert socket_dir.exists()
    ether.start()
    ether.shutdown()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not socket_dir.exists()


def test_straggler_is_stopped_by_pid(tmp_path: Path) -> None:
    config = _lifecycle_config(tmp_path, n=1, slow_cleanup_s=60.0)
    with tapped(config) as logs:
        launcher = ether.launcher
        assert launcher is not None
        pid = launcher.children["rec0"].proc.pid  # type: ignore[union-attr]
        started = time.monotonic()
        ether.shutdown(timeout=0.5)
        assert time.monotonic() - started < 5.0
        logs.wait_for("cleanup handlers not finished in time by: rec0")
        logs.wait_for(f"rec0 (PID {pid}): cleanup handlers still running after 0.5 s", "stopping it alone")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_hung_instance_is_stopped_alone_and_the_others_cleanup_runs(tmp_path: Path) -> None:
    """One instance hangs in its save handler: it is stopped at its own save deadline, and the heater's
    cleanup (which takes 0.3 s) still runs to the end before its process is asked to exit."""
    config = {"instances": {
        "stuck": {"class_path": "fabric_apps.HungSaver", "save_timeout_s": 1.0},
        "heater": {"class_path": "fabric_apps.Heater", "kwargs": {"path": str(tmp_path / "heater.txt")}},
    }}
    with tapped(config) as logs:
        launcher = ether.launcher
        assert launcher is not None
        pid = launcher.children["stuck"].proc.pid  # type: ignore[union-attr]
        started = time.monotonic()
        ether.shutdown(timeout=3.0)
        took = time.monotonic() - started
    assert (tmp_path / "heater.txt").read_text() == "off\n"
    assert 1.0 <= took < 3.0  # the hung save costs its own deadline (1 s), not the whole budget
    logs.wait_for(f"stuck (PID {pid}): save handlers still running after 1.0 s",
                  "(instances.stuck.save_timeout_s)")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert [name for name, _ in launcher.failures] == ["stuck"]


def test_crashed_instance_is_logged_and_restarted() -> None:
    config = {
        "instances": {
            "crasher": {
                "class_path": "fabric_apps.Crasher",
                "restart": {"policy": "on-failure", "max_restarts": 2, "backoff_s": 0.01},
            },
            "adder": {"class_path": "fabric_apps.Adder"},
        }
    }
    with tapped(config) as logs, fabric_client("sum") as client:
        first_pid = ether.get("Crasher.ping", timeout=5.0)
        client.publish("Crasher.die", {"code": 3})
        logs.wait_for(f"crasher (PID {first_pid}) exited unexpectedly with exit code 3")
        logs.wait_for("restarting crasher (restart 1 of 2)")
        deadline = time.monotonic() + 20.0
        while True:  # the restarted process answers once it is up
            try:
                second_pid = ether.get("Crasher.ping", timeout=0.5)
                break
            except TimeoutError:
                assert time.monotonic() < deadline, "the crashed instance was not restarted"
        assert second_pid != first_pid
        client.publish("Adder.add", {"x": 1})  # the rest of the system never stopped
        assert expect(client, "sum") == {"total": 2}


def test_instance_that_cannot_be_constructed_is_reported_and_others_run() -> None:
    config = {
        "instances": {
            "broken": {"class_path": "fabric_apps.BrokenConstructor"},
            "missing": {"class_path": "fabric_apps.NoSuchClass"},
            "adder": {"class_path": "fabric_apps.Adder"},
        }
    }
    # pre-flight would refuse the missing class before starting anything (tests/test_preflight.py); without
    # it, the instance process reports it and the others run
    with tapped(config, preflight=False) as logs, fabric_client("sum") as client:
        line = logs.wait_for("[broken]", "BrokenConstructor")
        assert "required" in line
        logs.wait_for("[missing]", "instances.missing.class_path", "has no class 'NoSuchClass'")
        logs.wait_for("broken (PID", "exited unexpectedly with exit code 1")
        client.publish("Adder.add", {"x": 1})
        assert expect(client, "sum") == {"total": 2}


def test_publish_hook_is_removed_after_shutdown() -> None:
    with tapped({"instances": {}}):
        pass
    set_publish_hook(None)
    assert Adder().add(x=1) == {"total": 2}


def test_children_exit_when_the_tap_process_dies() -> None:
    import shutil
    import signal
    import subprocess
    import sys

    script = (
        "import sys, time\n"
        "from ether_medium import ether\n"
        "ether.tap(config={'instances': {'a': {'class_path': 'fabric_apps.Adder'},"
        " 'b': {'class_path': 'fabric_apps.Calculator'}}})\n"
        "print(ether.launcher.addresses.publish, flush=True)\n"
        "print(' '.join(str(c.proc.pid) for c in ether.launcher.children.values()), flush=True)\n"
        "time.sleep(60)\n"
    )
    tests_dir = str(Path(__file__).resolve().parent)
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": tests_dir},
    )
    pids: list[int] = []
    socket_dir: Path | None = None
    try:
        assert proc.stdout is not None
        socket_dir = Path(proc.stdout.readline().strip().removeprefix("ipc://")).parent
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in pids):
            assert time.monotonic() < deadline, "instances outlived the tap process"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if socket_dir is not None and socket_dir.name.startswith("ether-"):
            shutil.rmtree(socket_dir, ignore_errors=True)  # a killed tap process cannot remove it


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie of the killed tap process is reaped by init; treat a zombie as gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_a_user_subscription_to_a_lifecycle_topic_does_not_break_it(tmp_path: Path) -> None:
    path = tmp_path / "watch.txt"
    config = {
        "instances": {"w": {"class_path": "fabric_apps.LifecycleWatcher", "kwargs": {"path": str(path)}}}
    }
    with tapped(config) as logs:
        pass
    assert path.read_text().split("\n")[:2] == ["saw Ether.shutdown", "shutdown handler"]
    assert "did not exit in time" not in logs.text()
