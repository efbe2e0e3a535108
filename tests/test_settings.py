"""Settings from the command line, the environment, the YAML and the defaults (ether_medium.settings)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from ether_medium import ConfigError, settings
from ether_medium.config import EtherConfig, InstanceConfig, load_config
from ether_medium.settings import Setting, active, describe, resolve, table

ROOT = Path(__file__).resolve().parent.parent


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rig.yaml"
    path.write_text(text)
    return path


def test_precedence_is_command_line_then_environment_then_yaml_then_default(tmp_path: Path) -> None:
    rig = _yaml(tmp_path, "logging: {level: WARNING}\n")
    assert resolve({}, environ={}).logging.level is None  # default (INFO)
    assert resolve(rig, environ={}).logging.level == "WARNING"
    assert resolve(rig, environ={"ETHER_LOG_LEVEL": "DEBUG"}).logging.level == "DEBUG"
    cfg = resolve(rig, {"logging.level": "ERROR"}, environ={"ETHER_LOG_LEVEL": "DEBUG"})
    assert cfg.logging.level == "ERROR"
    assert cfg.origins is not None and cfg.origins["logging.level"] == "command line (--log-level)"
    assert cfg.raw["logging"] == {"level": "ERROR"}  # the effective mapping, for the session's services


SAMPLES: dict[str, tuple[str, Any]] = {
    "logging.level": ("debug", "DEBUG"),
    "recording.path": ("/data/run7.sqlite", "/data/run7.sqlite"),
    "fabric.transport": ("TCP", "tcp"),
    "fabric.host": ("127.0.0.2", "127.0.0.2"),
    "fabric.port": ("6123", 6123),
    "fabric.join": ("tcp://127.0.0.1:7000", "tcp://127.0.0.1:7000"),
    "cluster.engine": ("Ray", "ray"),
    "metrics.port": ("9999", 9999),
}


@pytest.mark.parametrize("key", sorted(SAMPLES))
def test_every_yaml_setting_can_be_set_by_its_variable(tmp_path: Path, key: str) -> None:
    row = next(s for s in active() if s.key == key)
    text, expected = SAMPLES[key]
    rig = _yaml(tmp_path, "recording: {path: from_yaml.sqlite}\n" if key == "recording.path" else "{}\n")
    cfg = resolve(rig, environ={row.env: text})
    section, _, field = key.partition(".")
    assert getattr(getattr(cfg, section), field) == expected
    assert cfg.origins is not None and cfg.origins[key] == f"environment ({row.env})"


def test_every_active_yaml_setting_has_a_sample() -> None:
    assert {s.key for s in active() if s.in_yaml} == set(SAMPLES)


def test_a_bad_value_names_the_variable_that_set_it(tmp_path: Path) -> None:
    rig = _yaml(tmp_path, "fabric: {port: 5555}\n")
    with pytest.raises(ConfigError) as info:
        resolve(rig, environ={"ETHER_FABRIC_PORT": "abc"})
    assert f"{rig}: fabric.port: " in str(info.value)
    assert "(set by the environment (ETHER_FABRIC_PORT))" in str(info.value)
    with pytest.raises(ConfigError, match=r"logging.level: .*set by the command line \(--log-level\)"):
        resolve(rig, {"logging.level": "LOUD"}, environ={})
    # a value from the YAML is blamed on the YAML, as before
    with pytest.raises(ConfigError) as info:
        resolve(_yaml(tmp_path, "fabric: {port: abc}\n"), environ={})
    assert "set by" not in str(info.value)


def test_an_empty_variable_counts_as_not_set(tmp_path: Path) -> None:
    rig = _yaml(tmp_path, "logging: {level: WARNING}\n")
    assert resolve(rig, environ={"ETHER_LOG_LEVEL": "  "}).logging.level == "WARNING"


def test_the_recording_path_does_not_turn_recording_on(tmp_path: Path) -> None:
    cfg = resolve(_yaml(tmp_path, "instances: {}\n"), environ={"ETHER_RECORDING_PATH": "/data/x.sqlite"})
    assert cfg.recording is None
    assert cfg.origins is not None and cfg.origins["recording.path"].startswith("not used")
    cfg = resolve(_yaml(tmp_path, "recording: {}\n"), environ={"ETHER_RECORDING_PATH": "/data/x.sqlite"})
    assert cfg.recording is not None and cfg.recording.path == "/data/x.sqlite"


def test_joining_from_the_environment_drops_the_yaml_transport(tmp_path: Path) -> None:
    rig = _yaml(tmp_path, "fabric: {transport: tcp}\n")
    cfg = resolve(rig, environ={"ETHER_FABRIC_JOIN": "tcp://127.0.0.1:5555"})
    assert cfg.fabric.join == "tcp://127.0.0.1:5555" and cfg.fabric.transport == "ipc"
    assert cfg.origins is not None and cfg.origins["fabric.transport"].startswith("not used: joining")


def test_a_variable_of_a_setting_this_version_lacks_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # every row has its section today; a row reserved for a section still to come would be refused like this
    future = Setting("future.knob", "ETHER_FUTURE_KNOB", None, "a setting of a later version", "(none)")
    monkeypatch.setattr(settings, "SETTINGS", (*settings.SETTINGS, future))
    with pytest.raises(ConfigError, match=r"environment \(ETHER_FUTURE_KNOB\) sets .* unset ETHER_FUTU"):
        resolve({}, environ={"ETHER_FUTURE_KNOB": "on"})


def test_ether_engine_selects_the_engine(tmp_path: Path) -> None:
    assert resolve({}, environ={"ETHER_ENGINE": "ray"}).cluster is not None
    cfg = resolve({"cluster": {"engine": "ray", "address": "auto"}}, environ={"ETHER_ENGINE": "local"})
    assert cfg.cluster is not None and cfg.cluster.engine == "local" and cfg.cluster.address == "auto"
    assert resolve({}).cluster is None  # no section, no variable: local processes, Ray never imported
    with pytest.raises(ConfigError, match="ETHER_ENGINE"):
        resolve({}, environ={"ETHER_ENGINE": "dask"})


def test_a_config_made_in_python_is_resolved_from_its_fields() -> None:
    cfg = EtherConfig(instances={"a": InstanceConfig(class_path="x.Y")})
    out = resolve(cfg, environ={"ETHER_LOG_LEVEL": "DEBUG"})
    assert list(out.instances) == ["a"] and out.logging.level == "DEBUG"
    assert resolve(out, environ={"ETHER_LOG_LEVEL": "ERROR"}) is out  # resolved once, used as it is


def test_describe_says_where_each_setting_came_from(tmp_path: Path) -> None:
    rig = _yaml(tmp_path, "fabric: {port: 6000}\n")
    env = {"ETHER_LOG_LEVEL": "debug", "ETHER_STATE_DIR": str(tmp_path / "state")}
    cfg = resolve(rig, {"fabric.host": "127.0.0.3"}, environ=env)
    rows = {key: (value, origin) for key, value, origin in describe(cfg, environ=env)}
    assert rows["logging.level"] == ("DEBUG", "environment (ETHER_LOG_LEVEL)")
    assert rows["fabric.host"] == ("127.0.0.3", "command line (--fabric-host)")
    assert rows["fabric.port"] == ("6000", f"config ({rig}: fabric.port)")
    assert rows["fabric.transport"] == ("ipc", "default")
    assert rows["state_dir"][1] == "environment (ETHER_STATE_DIR)"
    assert rows["recording.path"] == ("(no recording: section)", "default")


def test_docs_config_md_has_the_table_of_the_code() -> None:
    doc = (ROOT / "docs" / "config.md").read_text()
    found = re.search(r"<!-- settings table:.*?-->\n(.*?)\n<!-- end of settings table -->", doc, re.S)
    assert found, "docs/config.md lost its settings table markers"
    assert found.group(1) == table(), "docs/config.md: paste settings.table() between the markers"


def test_load_config_alone_applies_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETHER_LOG_LEVEL", "DEBUG")
    assert load_config({"logging": {"level": "ERROR"}}).logging.level == "ERROR"


def test_internal_field_names_are_not_config_keys() -> None:
    with pytest.raises(ConfigError, match=r"unknown top-level key\(s\) origins, raw"):
        load_config({"raw": {}, "origins": {}})
