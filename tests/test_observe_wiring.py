"""Wiring checks and ``ether graph`` read a config without starting anything (``ether graph --check``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ether_medium.cli import main as ether
from ether_medium.commands.graph import mermaid
from ether_medium.config import load_config
from ether_medium.wiring import check_wiring

ROOT = Path(__file__).resolve().parent.parent

CONFIG = {
    "devices": {"thermo": {"link": "sim:thermo:Thermometer?link=pty", "device_id": "sim-thermo"}},
    "instances": {
        "source": {"class_path": "observe_apps.Source"},
        "mismatched": {"class_path": "observe_apps.Mismatched"},
        "ticker": {"class_path": "observe_apps.Ticker"},
        "listener": {"class_path": "observe_apps.Listener"},
    },
}


def _problems() -> list[str]:
    return [str(p) for p in check_wiring(load_config(CONFIG))]


def test_a_field_of_another_type_names_both_sides_and_files() -> None:
    import inspect

    import observe_apps

    pub_line = inspect.getsourcelines(observe_apps.Source.sample)[1]
    sub_line = inspect.getsourcelines(observe_apps.Mismatched.on_sample)[1]
    found = [p for p in _problems() if "field 'label'" in p]
    assert found == [
        f"error: Source.sample: field 'label': source (tests/observe_apps.py:{pub_line} Source.sample) sends "
        f"str, mismatched (tests/observe_apps.py:{sub_line} Mismatched.on_sample) expects int"
    ]


def test_a_field_the_device_does_not_send() -> None:
    found = [p for p in _problems() if p.startswith("error: Thermometer.read")]
    assert len(found) == 1
    assert "needs field(s) kelvin, which thermo (examples/devices/thermo.py:25 Thermometer.read)" in found[0]
    assert "(it sends celsius)" in found[0]


def test_unfed_subscribers_and_unheard_publishers() -> None:
    problems = _problems()
    assert any(p.startswith("error: Nobody.sends: mismatched (tests/observe_apps.py:")
               and "no instance or device" in p for p in problems)
    assert any(p.startswith("warning: Source.unheard: published by source (") for p in problems)
    assert not any("Ticker.tick" in p for p in problems)  # fed and heard, same fields


def test_graph_draws_devices_with_their_topics() -> None:
    text = mermaid(load_config(str(ROOT / "examples/config/demo_rig.yaml")))
    assert 'd_thermo -- "read" --> t_Thermometer_read' in text
    assert "t_Thermometer_read --> i_logger" in text
    assert "t_Heater_set_power --> d_heater" in text


def test_graph_check_exits_1_on_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    assert ether(["graph", "--check", "examples/config/demo_rig.yaml"]) == 0
    assert "wiring: 0 error(s), 1 warning(s)" in capsys.readouterr().out
    import yaml

    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    assert ether(["graph", "--check", str(cfg)]) == 1
    out = capsys.readouterr().out
    assert f"{cfg}: error: Nobody.sends" in out and "wiring: 3 error(s)" in out
    assert sys.modules.get("observe_apps") is not None


def test_check_runs_the_wiring_checks_after_the_pre_flight(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """``ether check``: a config that can run but is wired wrong exits 1 with each wiring error; warnings
    alone leave it at 0 (counted in the ok line)."""
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    assert ether(["check", "examples/config/demo_rig.yaml"]) == 0
    assert "1 wiring warning" in capsys.readouterr().out
    import yaml

    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    assert ether(["check", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert f"{cfg}: error: Nobody.sends" in err and "3 wiring errors" in err
