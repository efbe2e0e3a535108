"""The demo rig (``make demo``) runs as a user runs it: a subprocess, real boards simulated over real links.

Each test collects the PIDs of the demo's whole process tree while it runs (bridges, simulated boards,
instances) and checks afterwards that every one of them is gone; whatever is left is stopped by its PID.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of a live process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0], int(fields[19])


def _descendants(root: int) -> dict[int, int]:
    """pid -> start time of every live process below ``root``."""
    parents: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            parents.setdefault(st[0], []).append(int(entry))
            starts[int(entry)] = st[2]
    found: dict[int, int] = {}
    todo = [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            found[child] = starts[child]
            todo.append(child)
    return found


def _alive(pid: int, start: int) -> bool:
    st = _stat(pid)
    return st is not None and st[2] == start and st[1] != "Z"


def run_demo(tmp_path: Path, *args: str, timeout_s: float = 45.0,
             ctrl_c_after: str | None = None) -> tuple[int, str, str, dict[int, int]]:
    """Run ``python -m examples.demo ARGS`` in ``tmp_path`` (its data go there); return code, stdout, stderr
    and the PIDs (with start times) of every process it started. ``ctrl_c_after``: send SIGINT once this
    text is in its output."""
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    seen: dict[int, int] = {}
    with (tmp_path / "out.txt").open("w+") as out, (tmp_path / "err.txt").open("w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "examples.demo", *args], cwd=tmp_path, env=env,
                                stdout=out, stderr=err,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            deadline = time.monotonic() + timeout_s
            while proc.poll() is None:
                seen.update(_descendants(proc.pid))
                if ctrl_c_after is not None and ctrl_c_after in (tmp_path / "out.txt").read_text():
                    proc.send_signal(signal.SIGINT)
                    ctrl_c_after = None
                if time.monotonic() > deadline:
                    pytest.fail(f"the demo did not finish within {timeout_s} s")
                time.sleep(0.05)  # sampling the process tree, not synchronisation
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            left = [pid for pid, start in seen.items() if _alive(pid, start)]
            for pid in left:
                os.kill(pid, signal.SIGKILL)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    assert not left, f"processes left behind by the demo: {left}\n{stdout}\n{stderr}"
    return proc.returncode, stdout, stderr, seen


def _number(label: str, text: str) -> int:
    match = re.search(rf"^\s+{label}\s+(\d+)", text, re.M)
    assert match, f"no {label!r} line in the summary:\n{text}"
    return int(match.group(1))


def test_demo_runs_controls_the_heater_and_cleans_up(tmp_path: Path) -> None:
    code, out, err, pids = run_demo(tmp_path, "--duration", "5")
    assert code == 0, f"demo exited {code}\n{out}\n{err}"
    assert re.search(r"board 'thermo' attached \(pid \d+ on /dev/pts/\d+\)", out), out  # a real pty
    assert "board 'heater' attached" in out
    assert len(re.findall(r"^\s+\d+\.\d s .*set point 25\.0 C", out, re.M)) >= 3, out  # a line a second
    assert _number("readings received", out) > 0
    acked = re.search(r"commands acknowledged by the board: (\d+)", out)
    assert acked and int(acked.group(1)) >= 1, out
    heater_link = re.search(r"link heater\s+(\d+) frames in, (\d+) out, (\d+) errors, (\d+) deliveries", out)
    assert heater_link, out
    assert int(heater_link.group(1)) > 0 and int(heater_link.group(4)) >= 1
    assert re.search(r"temperature range\s+\d+\.\d+ \.\. \d+\.\d+ C", out), out
    assert len(pids) >= 6, f"expected bridges, boards and instances below the demo, saw {pids}"
    if "no recorder in this installation" not in out:
        check_recording(tmp_path, out, _number("readings received", out))


def check_recording(cwd: Path, out: str, readings: int) -> None:
    """The export command the summary prints gives a CSV with every reading the logger received."""
    match = re.search(r"export to CSV\s+(\S+) (export .*)$", out, re.M)
    assert match, out
    ether_cli = [sys.executable, "-m", "ether_medium.cli"]  # the printed command, minus the PATH lookup
    exported = subprocess.run([*ether_cli, *match.group(2).split()], cwd=cwd, capture_output=True,
                              text=True, timeout=30, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert exported.returncode == 0, exported.stderr
    csv = next(cwd.glob("ether_data/export/*/Thermometer.read.csv"))
    rows = csv.read_text().splitlines()
    assert rows[0].startswith("source,") and "celsius" in rows[0]
    assert len(rows) - 1 >= readings, f"{len(rows) - 1} rows recorded, {readings} readings received"


def test_demo_without_readings_fails_with_a_clear_message(tmp_path: Path) -> None:
    config = tmp_path / "no_boards.yaml"
    config.write_text(
        "instances:\n"
        "  logger: {class_path: examples.rig.logger.TemperatureLogger}\n"
        "  controller: {class_path: examples.rig.controller.HeaterController}\n"
        "logging: {level: WARNING}\n"
    )
    code, out, err, _ = run_demo(tmp_path, "--duration", "1", "--config", str(config))
    assert code == 1, f"{out}\n{err}"
    assert "demo failed: no readings arrived from the thermometer board" in err
    assert "readings received   0" in out


def test_ctrl_c_stops_the_rig_with_a_summary(tmp_path: Path) -> None:
    code, out, err, pids = run_demo(tmp_path, "--duration", "60", ctrl_c_after="readings   3 ")
    assert code == 1, f"{out}\n{err}"
    assert "demo failed: interrupted (Ctrl-C)" in err
    assert _number("readings received", out) > 0
    assert len(pids) >= 6


def test_sim_link_options_reach_ether_sim_and_bad_ones_are_named() -> None:
    from ether_medium.bridge.links import open_link
    from ether_medium.config import load_config
    from ether_medium.errors import ConfigError

    link = open_link("sim:heater:Heater?link=pty&world=w.bin&heater_watts=20", device="heater")
    assert link.pty and link.argv[-6:] == ["--world", "w.bin", "--heater-watts", "20", "--id", "sim-heater"]
    with pytest.raises(ConfigError, match=r"devices\.heater\.link: .*'wattage' is not an option of"):
        load_config({"devices": {"heater": {"link": "sim:heater:Heater?wattage=20"}}})
    with pytest.raises(ConfigError, match=r"link=serial: a sim link is link=stdio .* or link=pty"):
        load_config({"devices": {"heater": {"link": "sim:heater:Heater?link=serial"}}})


def test_ether_sim_refuses_a_thermal_constant_that_makes_no_sense() -> None:
    argv = [sys.executable, "-m", "ether_medium.cli", "sim", "thermo:Thermometer", "--tau", "0"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=REPO)
    assert done.returncode == 2
    assert "--tau must be > 0 seconds" in done.stderr
