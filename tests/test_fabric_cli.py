"""``ether run``, ``ether graph`` and ``ether monitor`` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import run_to_end

ROOT = Path(__file__).resolve().parent.parent
ETHER = [sys.executable, "-m", "ether_medium.cli"]


def _run(args: list[str], timeout: float = 40.0, env: dict[str, str] | None = None) -> tuple[int, str]:
    return run_to_end(args, ROOT, timeout, env)


def test_run_with_duration() -> None:
    code, out = _run([*ETHER, "run", "examples/config/dual_processors.yaml", "--duration", "0.5"])
    assert code == 0, out
    assert "Ether system started successfully" in out and "Ether system shutdown complete" in out
    assert "Summarizing results - mean: 126.0, max: 168, min: 84" in out


def test_run_with_a_bad_config_exits_2_and_names_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("instances:\n  x:\n    clas_path: a.B\n")
    code, out = _run([*ETHER, "run", str(bad), "--duration", "0.1"])
    assert code == 2
    assert f"{bad}: instances.x.clas_path: unknown key" in out


def test_run_reports_a_crash_with_exit_status_1(tmp_path: Path) -> None:
    cfg = tmp_path / "crash.yaml"
    cfg.write_text("instances:\n  broken:\n    class_path: fabric_apps.BrokenConstructor\n")
    code, out = _run([*ETHER, "run", str(cfg), "--duration", "0.3"], env={"PYTHONPATH": str(ROOT / "tests")})
    assert code == 1, out
    assert "broken (PID" in out and "exited unexpectedly with exit code 1" in out


def test_graph_prints_mermaid() -> None:
    code, out = _run([*ETHER, "graph", "examples/config/external_class_integration.yaml"])
    assert code == 0, out
    assert out.startswith("flowchart LR")
    assert 'i_generator -- "generate_data" --> t_data' in out
    assert "t_data --> i_processor2x" in out
    assert "t_processed_data --> i_collector" in out


def test_monitor_prints_messages_of_a_running_fabric(tmp_path: Path) -> None:
    env = {"ETHER_STATE_DIR": str(tmp_path)}
    runner = subprocess.Popen(
        [*ETHER, "run", "examples/config/lab_equipment.yaml", "--duration", "30"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **env},
    )
    try:
        deadline = time.monotonic() + 20
        while not (files := list(tmp_path.glob("fabric-*.json"))):
            assert time.monotonic() < deadline, "the tap process did not write its fabric file"
            time.sleep(0.02)
        assert json.loads(files[0].read_text())["pid"] == runner.pid
        code, out = _run([*ETHER, "monitor", "DataLogger.log_temperature", "--count", "3"], env=env)
        assert code == 0, out
        lines = [x for x in out.splitlines() if " DataLogger.log_temperature from sensor " in x]
        assert len(lines) == 3 and " temperature=" in lines[0]
    finally:
        runner.terminate()
        runner.wait(20)
    assert runner.returncode == 0
    assert not list(tmp_path.glob("fabric-*.json"))


def test_monitor_without_a_fabric_says_how_to_start_one(tmp_path: Path) -> None:
    code, out = _run([*ETHER, "monitor", "x"], env={"ETHER_STATE_DIR": str(tmp_path)})
    assert code == 2 and "ether run CONFIG" in out
