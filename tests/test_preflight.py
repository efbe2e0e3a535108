"""Pre-flight: a config that cannot run stops ``ether run`` / ``ether.tap`` with exit 2 and one line per
problem, before any process starts; ``ether check`` makes the same checks and starts nothing."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from conftest import run_to_end

from ether_medium import PreflightError, ether
from ether_medium.config import load_config
from ether_medium.fabric.preflight import preflight

ETHER = [sys.executable, "-m", "ether_medium.cli"]

# an instance whose construction leaves a mark: if it exists, a process was started
MARKER_APP = """
import pathlib
class Marker:
    def __init__(self):
        pathlib.Path("started.marker").write_text("started")
"""
GOOD_DEVICE = "class Board:\n    pass\n"


def _ether(args: list[str], cwd: Path, timeout: float = 20.0) -> tuple[int, str, float]:
    start = time.monotonic()
    code, out = run_to_end([*ETHER, *args], cwd, timeout, {"ETHER_STATE_DIR": str(cwd / "state")})
    return code, out, time.monotonic() - start


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "marker_app.py").write_text(MARKER_APP)
    (tmp_path / "good_board.py").write_text(GOOD_DEVICE)
    (tmp_path / "star_board.py").write_text("from good_board import *  # noqa\n")
    (tmp_path / "broken_board.py").write_text("class Board:\n    def x(self)\n        pass\n")
    (tmp_path / "a_file").write_text("not a directory")
    return tmp_path


CASES = {
    "missing class": (
        "instances:\n  m:\n    class_path: marker_app.Marker\n  x:\n    class_path: marker_app.Nothing\n",
        "instances.x.class_path: module 'marker_app' has no class 'Nothing'",
    ),
    "device module that does not compile": (
        "instances:\n  m:\n    class_path: marker_app.Marker\n"
        "devices:\n  d:\n    link: sim:broken_board:Board\n",
        "devices.d.link: device module {cwd}/broken_board.py does not compile: ",
    ),
    "unwritable recording path": (
        "instances:\n  m:\n    class_path: marker_app.Marker\nrecording:\n  path: a_file/ether.sqlite\n",
        "recording.path: cannot make directory a_file: a_file is not a directory",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_run_exits_2_within_5_s_without_starting_a_process(project: Path, case: str) -> None:
    text, expected = CASES[case]
    (project / "rig.yaml").write_text(text)
    code, out, took = _ether(["run", "rig.yaml"], project)  # no --duration: a started rig would run on
    assert code == 2, out
    assert took < 5.0, (took, out)
    assert f"rig.yaml: {expected.format(cwd=project)}" in out, out
    assert not (project / "started.marker").exists(), out
    assert "Starting Ether session" not in out


def test_check_lists_every_problem_and_starts_nothing(project: Path) -> None:
    (project / "rig.yaml").write_text(
        "instances:\n  m:\n    class_path: marker_app.Marker\n  x:\n    class_path: nowhere.Thing\n"
        "registry:\n  marker_app.Marker:\n    methods:\n      nope: {ether_pub: {}}\n"
        "devices:\n  a:\n    link: sim:broken_board:Board\n  b:\n    link: sim:good_board:Missing\n"
        "  c:\n    link: sim:no_such_module:Board\n  e:\n    link: cmd:no-such-program-here --x\n"
        "recording:\n  path: a_file\n"
    )
    code, out, _ = _ether(["check", "rig.yaml"], project)
    assert code == 2, out
    for line in [
        "rig.yaml: instances.x.class_path: cannot import module 'nowhere'",
        "rig.yaml: registry.marker_app.Marker.methods.nope: marker_app.Marker has no method 'nope'",
        "rig.yaml: devices.a.link: device module",
        "rig.yaml: devices.b.link: device module",
        "defines no 'Missing' (its classes: Board)",
        "rig.yaml: devices.c.link: device module 'no_such_module' not found",
        "rig.yaml: devices.e.link: program 'no-such-program-here' not found",
        "rig.yaml: recording.path: a_file is not a SQLite database",
    ]:
        assert line in out, (line, out)
    assert not (project / "started.marker").exists()


def test_check_passes_a_config_that_can_run(project: Path) -> None:
    (project / "rig.yaml").write_text(
        "instances:\n  m:\n    class_path: marker_app.Marker\n"
        "devices:\n  d:\n    link: sim:good_board:Board\n  t:\n    link: sim:thermo:Thermometer\n"
        "  s:\n    link: sim:star_board:Board?link=pty\n"
        "recording:\n  path: data/new/ether.sqlite\n"
    )
    code, out, _ = _ether(["check", "rig.yaml"], project)
    assert code == 0, out
    assert "rig.yaml: ok" in out
    assert not (project / "data").exists() and not (project / "started.marker").exists()


def test_tap_raises_before_starting_anything(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    cfg = load_config({"instances": {"m": {"class_path": "marker_app.Marker"},
                                     "x": {"class_path": "marker_app.Nothing"}}})
    assert preflight(cfg) == ["instances.x.class_path: module 'marker_app' has no class 'Nothing'"]
    with pytest.raises(PreflightError, match="nothing was started"):
        ether.tap(config=cfg)
    assert not ether.tapped
    assert not (project / "started.marker").exists()
