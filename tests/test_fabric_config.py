"""Config errors name the file, the key path and what was expected; tap refuses them before starting
anything."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from ether_medium import ether
from ether_medium.config import load_config
from ether_medium.errors import ConfigError, EtherError, KeyFileError


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


def test_duplicate_yaml_keys_name_file_line_and_key(tmp_path: Path) -> None:
    err = _load(tmp_path, "instances:\n  adder:\n    class_path: a.B\n  adder:\n    class_path: c.D\n")
    assert "line 4: key 'adder' appears twice in the same mapping (first on line 2)" in str(err)
    err = _load(tmp_path, "recording:\n  path: a.sqlite\n  topics: ['*']\n  path: b.sqlite\n")
    assert "line 4: key 'path' appears twice" in str(err)


def test_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    path.write_text("instances:\n  one: &one\n    class_path: a.B\n    kwargs: {x: 1}\n"
                    "  two:\n    <<: *one\n    kwargs: {x: 2}\n")
    cfg = load_config(path)
    assert cfg.instances["two"].kwargs == {"x": 2} and cfg.instances["two"].class_path == "a.B"


def test_names_are_unique_across_instances_and_devices(tmp_path: Path) -> None:
    err = _load(tmp_path, "instances:\n  thermo:\n    class_path: a.B\n"
                          "devices:\n  thermo:\n    link: udp://127.0.0.1:5005\n")
    assert "'thermo': both an instance and a device; names must be unique" in str(err)


def test_udp_link_port_out_of_range(tmp_path: Path) -> None:
    err = _load(tmp_path, "devices:\n  board:\n    link: udp://127.0.0.1:70000\n")
    assert "devices.board.link: UDP port 70000 of 'udp://127.0.0.1:70000' is out of range" in str(err)
    load_config({"devices": {"board": {"link": "udp://127.0.0.1:65535"}}})


def test_secret_key_is_private_from_the_first_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Created 0600 by os.open, not chmod-ed afterwards: with a umask of 0 and chmod doing nothing, the
    secret key file is still the owner's only."""
    from ether_medium.fabric.curve import create_keys

    monkeypatch.setattr(os, "chmod", lambda *args, **kwargs: None)
    old = os.umask(0)
    try:
        public, secret = create_keys(tmp_path, "lab")
    finally:
        os.umask(old)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(public.stat().st_mode) == 0o644


def test_world_readable_secret_key_is_refused_with_the_chmod_to_run(tmp_path: Path) -> None:
    from ether_medium.fabric.curve import create_keys, load_key_pair

    _, secret = create_keys(tmp_path, "lab")
    load_key_pair(str(secret))
    secret.chmod(0o644)
    with pytest.raises(KeyFileError, match=rf"can be read or written by other users \(mode 0644\).*"
                                           rf"run `chmod 600 {re.escape(str(secret))}`"):
        load_key_pair(str(secret))
