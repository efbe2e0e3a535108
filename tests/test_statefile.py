"""One fabric file per run: a second ``ether run`` in the same folder breaks nothing of the first, and
``ether monitor`` / ``replay`` find the running fabric(s) and ask which one when there are several."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ether_medium.errors import FabricNotFound
from ether_medium.fabric.statefile import (
    RunningFabric,
    choose_fabric,
    remove_state,
    running_fabrics,
    write_state,
)

ETHER = [sys.executable, "-m", "ether_medium.cli"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for var in ("ETHER_STATE_DIR", "XDG_RUNTIME_DIR", "ETHER_PUBLISH", "ETHER_SUBSCRIBE"):
        env.pop(var, None)  # the default: ./.ether of the folder the run starts in
    return env


def _files(folder: Path, n: int) -> list[Path]:
    deadline = time.monotonic() + 20
    while len(files := sorted((folder / ".ether").glob("fabric-*.json"))) < n:
        assert time.monotonic() < deadline, f"{n} fabric files expected, found {files}"
        time.sleep(0.02)
    return files


def _stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return out


def test_a_second_run_in_the_same_folder_breaks_nothing_of_the_first(tmp_path: Path) -> None:
    (tmp_path / "rig.yaml").write_text("instances: {}\n")
    start = dict(cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = subprocess.Popen([*ETHER, "run", "rig.yaml"], **start)  # type: ignore[call-overload]
    second: subprocess.Popen[str] | None = None
    try:
        (first_file,) = _files(tmp_path, 1)
        first_session = json.loads(first_file.read_text())["session"]
        second = subprocess.Popen([*ETHER, "run", "rig.yaml"], **start)  # type: ignore[call-overload]
        files = _files(tmp_path, 2)
        assert first_file in files  # not overwritten

        def monitor(*extra: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*ETHER, "monitor", "Ether.", "--duration", "0.3", *extra], cwd=tmp_path,
                                  env=_env(), capture_output=True, text=True, timeout=20,
                                  stdin=subprocess.DEVNULL)

        several = monitor()
        assert several.returncode == 2
        assert "2 fabrics are running; choose one with --fabric SESSION" in several.stderr
        assert first_session in several.stderr

        chosen = monitor("--fabric", first_session[:8])
        assert chosen.returncode == 0, chosen.stderr
        assert f"of session {first_session}" in chosen.stderr

        _stop(second)
        assert first.poll() is None and first_file.exists()  # the second run's exit left the first alone
        only = monitor()
        assert only.returncode == 0, only.stderr
        assert f"of session {first_session}" in only.stderr
    finally:
        if second is not None:
            _stop(second)
        out = _stop(first)
    assert first.returncode == 0, out
    assert not list((tmp_path / ".ether").glob("fabric-*.json"))


def test_stale_files_are_skipped_and_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("ETHER_STATE_DIR", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(var, raising=False)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".ether").mkdir()
    (tmp_path / ".ether" / "fabric-old.json").write_text(json.dumps({"pid": dead.pid, "session": "old"}))
    (tmp_path / ".ether" / "fabric-bad.json").write_text("{not json")
    fabrics, skipped = running_fabrics(tmp_path)
    assert fabrics == [] and len(skipped) == 2
    with pytest.raises(FabricNotFound, match=f"no longer running \\(PID {dead.pid} is gone\\)"):
        choose_fabric(fabrics, None, skipped)


def test_a_new_run_removes_the_files_of_runs_that_are_gone(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETHER_STATE_DIR", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "fabric-killed.json").write_text(json.dumps({"pid": dead.pid, "session": "killed"}))
    (tmp_path / "fabric-alive.json").write_text(json.dumps({"pid": os.getpid(), "session": "alive"}))
    path = write_state("new", {"ETHER_PUBLISH": "ipc:///x"})
    assert path is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fabric-alive.json", "fabric-new.json"]
    remove_state(path)
    assert not Path(path).exists()


def test_choose_asks_when_several_run() -> None:
    a = RunningFabric(Path("a.json"), "aaaa-1", 1, 1.0, {})
    b = RunningFabric(Path("b.json"), "bbbb-2", 2, 2.0, {})
    assert choose_fabric([a, b], ask=lambda fabrics: fabrics[1]) is b
    assert choose_fabric([a, b], "aa") is a
    with pytest.raises(FabricNotFound, match="no running fabric's session starts with 'cc'"):
        choose_fabric([a, b], "cc")
