"""``ether run`` with settings from the environment and the command line, as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import stop_process, wait_until

ROOT = Path(__file__).resolve().parent.parent
ETHER = [sys.executable, "-m", "ether_medium.cli"]
RIG = """\
instances:
  chatty:
    class_path: settings_apps.Chatty
logging:
  level: WARNING
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETHER_")}
    return {**env, "PYTHONPATH": str(ROOT / "tests"), **extra}


def _run(args: list[str], env: dict[str, str], timeout: float = 40.0) -> tuple[int, str]:
    proc = subprocess.Popen(
        [*ETHER, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        stop_process(proc, sig=signal.SIGKILL)
    return proc.returncode, out


def test_etherlog_level_overrides_the_yaml_and_the_option_overrides_both(tmp_path: Path) -> None:
    rig = tmp_path / "rig.yaml"
    rig.write_text(RIG)
    run = ["run", str(rig), "--duration", "0.3"]
    code, out = _run(run, _env())
    assert code == 0, out
    assert "Starting Ether session" not in out  # the YAML says WARNING
    code, out = _run(run, _env(ETHER_LOG_LEVEL="DEBUG"))
    assert code == 0, out
    assert "Starting Ether session" in out
    assert "[chatty] chatty says hello at DEBUG" in out  # the instance's records too
    code, out = _run([*run, "--log-level", "error"], _env(ETHER_LOG_LEVEL="DEBUG"))
    assert code == 0, out
    assert "Starting Ether session" not in out and "chatty says hello" not in out


def test_the_recording_goes_where_the_environment_says(tmp_path: Path) -> None:
    rig = tmp_path / "rig.yaml"
    rig.write_text(RIG + f"recording:\n  path: {tmp_path / 'from_yaml.sqlite'}\n")
    target = tmp_path / "from_env.sqlite"
    code, out = _run(["run", str(rig), "--duration", "0.5"], _env(ETHER_RECORDING_PATH=str(target)))
    assert code == 0, out
    assert not (tmp_path / "from_yaml.sqlite").exists()
    with sqlite3.connect(target) as db:
        (count,) = db.execute("SELECT count(*) FROM messages WHERE topic = 'chatty'").fetchone()
    assert count >= 3


def test_print_config_shows_each_setting_and_its_origin_and_starts_nothing(tmp_path: Path) -> None:
    rig = tmp_path / "rig.yaml"
    rig.write_text(RIG + "fabric:\n  port: 6000\n")
    code, out = _run(
        ["run", str(rig), "--print-config", "--fabric-host", "127.0.0.3"],
        _env(ETHER_LOG_LEVEL="debug", ETHER_STATE_DIR=str(tmp_path / "state")),
    )
    assert code == 0, out
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert lines["logging.level"].split()[1:] == ["DEBUG", "environment", "(ETHER_LOG_LEVEL)"]
    assert lines["fabric.host"].split()[1:] == ["127.0.0.3", "command", "line", "(--fabric-host)"]
    assert lines["fabric.port"].split()[1:3] == ["6000", "config"]
    assert lines["state_dir"].split()[1] == str(tmp_path / "state")
    assert "Starting Ether session" not in out and not (tmp_path / "state").exists()


def test_a_bad_variable_stops_the_run_before_anything_starts(tmp_path: Path) -> None:
    rig = tmp_path / "rig.yaml"
    rig.write_text(RIG)
    code, out = _run(["run", str(rig), "--duration", "5"], _env(ETHER_FABRIC_PORT="many"))
    assert code == 2
    assert f"{rig}: fabric.port:" in out and "(set by the environment (ETHER_FABRIC_PORT))" in out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_the_fabric_address_and_state_dir_from_the_environment_and_options(tmp_path: Path) -> None:
    rig = tmp_path / "rig.yaml"
    rig.write_text(RIG)
    port = _free_port()
    state = tmp_path / "state"
    proc = subprocess.Popen(
        [*ETHER, "run", str(rig), "--state-dir", str(state)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(ETHER_FABRIC_TRANSPORT="tcp", ETHER_FABRIC_PORT=str(port), ETHER_STATE_DIR="/nonexistent"),
    )
    try:
        found = wait_until(lambda: sorted(state.glob("fabric-*.json")), 30.0, f"{state}/fabric-SESSION.json")
        fabric = found[0]
        assert json.loads(fabric.read_text())["pid"] == proc.pid
        with socket.create_connection(("127.0.0.1", port), timeout=5.0):
            pass  # the broker listens where ETHER_FABRIC_PORT says
    finally:
        code = stop_process(proc, timeout_s=20.0, sig=signal.SIGINT)
    assert code == 0
    assert not fabric.exists()  # removed at shutdown
