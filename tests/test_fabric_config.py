"""Config errors name the file, the key path and what was expected; tap refuses them before starting
anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from ether_medium import ether
from ether_medium.config import load_config
from ether_medium.errors import ConfigError, EtherError


def _load(tmp_path: Path, text: str) -> ConfigError:
    path = tmp_path / "rig.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    return info.value


def test_unknown_key_lists_the_allowed_ones(tmp_path: Path) -> None:
    err = _load(tmp_path, "instances:\n  gen:\n    class_path: a.B\n    kwarg: {x: 1}\n")
    assert "instances.gen.kwarg: unknown key" in str(err)
    assert "expected one of: class_path, args, kwargs, restart" in str(err)


def test_wrong_type_names_expected_and_given(tmp_path: Path) -> None:
    err = _load(tmp_path, "instances:\n  gen:\n    class_path: a.B\n    kwargs: [1, 2]\n")
    assert "instances.gen.kwargs: expected a valid dictionary, got [1, 2]" in str(err)


def test_missing_class_path(tmp_path: Path) -> None:
    err = _load(tmp_path, "instances:\n  gen:\n    kwargs: {}\n")
    assert "instances.gen.class_path: required key is missing" in str(err)


def test_restart_policy_errors(tmp_path: Path) -> None:
    err = _load(tmp_path, "instances:\n  gen:\n    class_path: a.B\n    restart: sometimes\n")
    assert "instances.gen.restart: expected 'never', 'on-failure' or 'always', got 'sometimes'" in str(err)
    err = _load(
        tmp_path, "instances:\n  gen:\n    class_path: a.B\n    restart: {policy: always, max_restarts: -1}\n"
    )
    assert "instances.gen.restart.max_restarts: expected greater than or equal to 0, got -1" in str(err)


def test_registry_options_are_checked(tmp_path: Path) -> None:
    err = _load(tmp_path, "registry:\n  a.B:\n    methods:\n      m:\n        ether_pub: {topc: x}\n")
    assert "registry.a.B.methods.m.ether_pub.topc: unknown key" in str(err)
    assert "expected one of: topic" in str(err)


def test_yaml_syntax_error_and_missing_file(tmp_path: Path) -> None:
    err = _load(tmp_path, "instances:\n  gen: [unclosed\n")
    assert "not valid YAML" in str(err) and "line" in str(err)
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "nope.yaml")


def test_reserved_instance_name(tmp_path: Path) -> None:
    err = _load(tmp_path, "instances:\n  recorder:\n    class_path: a.B\n")
    assert "instance name 'recorder' is reserved" in str(err)


def test_tap_with_a_bad_config_raises_and_leaves_nothing_running(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        ether.tap(config={"instance": {}})
    assert ether.launcher is None
    ether.tap(config={"instances": {}})  # a later tap works
    ether.shutdown()


def test_section_whose_service_is_missing_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "ether_medium.recorder.service" else real(name, *a),
    )
    with pytest.raises(EtherError, match=r"'recording' section needs module 'ether_medium.recorder.service'"):
        ether.tap(config={"recording": {}})
    assert ether.launcher is None
