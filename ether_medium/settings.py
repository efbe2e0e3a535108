"""The settings a deployment changes, from the command line, the environment, the YAML or their defaults.

Precedence, first found wins: **command line > environment (``ETHER_*``) > YAML > default**. :data:`SETTINGS`
is the one table (docs/config.md prints it): each row names the YAML key, the variable and the ``ether run``
option. :func:`resolve` reads a config, applies the environment and the command line to it, validates the
result (an error names the variable or option that set a bad value) and records where each setting came from
(``EtherConfig.origins``); ``ether run --print-config`` prints that (:func:`describe`).

Every row's section exists in this version; a row whose section a version does not have yet stays inactive:
its variable, when set, is reported as ignored, never silently dropped. ``ETHER_ENGINE`` (``cluster.engine``)
selects where the processes run: ``local`` or ``ray`` (``cluster.address`` from the YAML, default ``local``).

Settings without a YAML key (the state directory, the start method) are read from the environment where they
are used; their option sets the variable for this process and its children.

The resolved config's ``raw`` is the effective mapping: the launcher hands it to the recorder and the
bridges, which validate it again without applying the environment a second time.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ether_medium.config import EtherConfig, load_config, read_config
from ether_medium.errors import ConfigError
from ether_medium.fabric.statefile import state_dir

__all__ = ["SETTINGS", "Setting", "active", "describe", "resolve", "setting", "table"]


@dataclass(frozen=True)
class Setting:
    key: str  # the YAML key path ("logging.level"), or a name of its own for a setting without one
    env: str  # the ETHER_* variable
    option: str | None  # the ``ether run`` option, if any
    meaning: str
    default: str  # as shown to the user
    in_yaml: bool = True
    makes_section: bool = True  # False: applies only when the config has the section (recording:)
    normalise: Callable[[str], Any] = str

    @property
    def section(self) -> str:
        return self.key.partition(".")[0]


def _upper(text: str) -> str:
    return text.strip().upper()


def _lower(text: str) -> str:
    return text.strip().lower()


SETTINGS: tuple[Setting, ...] = (
    Setting("logging.level", "ETHER_LOG_LEVEL", "--log-level", "DEBUG, INFO, WARNING, ERROR or CRITICAL",
            "INFO", normalise=_upper),
    Setting("recording.path", "ETHER_RECORDING_PATH", "--recording-path",
            "the SQLite file the recorder writes (when the config has recording:)", "ether_data/ether.sqlite",
            makes_section=False),
    Setting("fabric.transport", "ETHER_FABRIC_TRANSPORT", "--fabric-transport",
            "ipc (this machine only) or tcp (other machines may join)", "ipc", normalise=_lower),
    Setting("fabric.host", "ETHER_FABRIC_HOST", "--fabric-host", "the address the broker binds for tcp",
            "127.0.0.1"),
    Setting("fabric.port", "ETHER_FABRIC_PORT", "--fabric-port",
            "the broker's tcp port for publishers (subscribers: port + 1)", "5555"),
    Setting("fabric.join", "ETHER_FABRIC_JOIN", "--join",
            "tcp://HOST:PORT: run this config's instances in the session whose broker is there", "(none)"),
    Setting("cluster.engine", "ETHER_ENGINE", "--engine", "where instances run: local processes or ray",
            "local", normalise=_lower),
    Setting("metrics.port", "ETHER_METRICS_PORT", "--metrics-port",
            "the port of the Prometheus /metrics page", "(off)"),
    Setting("state_dir", "ETHER_STATE_DIR", "--state-dir",
            "where a running session writes fabric.json (ether monitor, replay and the like find it there)",
            "$XDG_RUNTIME_DIR/ether, else ./.ether", in_yaml=False),
    Setting("start_method", "ETHER_START_METHOD", None,
            "fork (children ready in milliseconds) or spawn (fresh interpreters)", "fork", in_yaml=False,
            normalise=_lower),
)  # fmt: skip

_BY_KEY = {s.key: s for s in SETTINGS}


def _known(setting: Setting) -> bool:
    """Whether this version's config has the setting's key."""
    section, _, field = setting.key.partition(".")
    info = EtherConfig.model_fields.get(section)
    if info is None or info.exclude:
        return False
    model = info.annotation
    for arg in getattr(model, "__args__", (model,)):  # FabricConfig | None -> FabricConfig
        fields = getattr(arg, "model_fields", None)
        if isinstance(fields, dict) and field in fields:
            return True
    return False


def _get(raw: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    section, _, field = key.partition(".")
    body = raw.get(section)
    if isinstance(body, dict) and field in body:
        return True, body[field]
    return False, None


def _put(raw: dict[str, Any], key: str, value: Any) -> None:
    section, _, field = key.partition(".")
    body = raw.get(section)
    raw[section] = {**(body if isinstance(body, dict) else {}), field: value}


def resolve(
    config: str | Path | dict[str, Any] | EtherConfig,
    options: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> EtherConfig:
    """The effective config: ``config`` with the environment (``environ``, default ``os.environ``) and the
    command line (``options``: setting key -> value, ``None`` for not given) applied, validated, with
    ``origins``. An :class:`EtherConfig` is resolved from its ``raw`` mapping (the one it was loaded from);
    one that was resolved already is returned as it is."""
    if isinstance(config, EtherConfig):
        if config.origins is not None:
            return config
        source = config.source
        raw = config.raw or config.model_dump(exclude_unset=True)  # one made in Python, not loaded
    else:
        source, raw = read_config(config)
    env = os.environ if environ is None else environ
    given = {k: v for k, v in (options or {}).items() if v is not None}
    effective = copy.deepcopy(raw)
    origins: dict[str, str] = {}
    problems: list[str] = []
    for setting in SETTINGS:
        if setting.key in given:
            value, origin = given[setting.key], f"command line ({setting.option})"
        elif env.get(setting.env, "").strip():
            value, origin = setting.normalise(env[setting.env]), f"environment ({setting.env})"
        else:
            present, _ = _get(raw, setting.key) if setting.in_yaml else (False, None)
            origins[setting.key] = f"config ({source}: {setting.key})" if present else "default"
            continue
        if not setting.in_yaml:
            origins[setting.key] = origin
            continue
        if not _known(setting):
            problems.append(
                f"the {origin} sets {setting.key}, which this version of Ether does not have; "
                f"unset {setting.env}"
            )
            continue
        if not setting.makes_section and not isinstance(raw.get(setting.section), dict):
            origins[setting.key] = f"not used: the {origin} sets it, but the config has no {setting.section}:"
            continue
        _put(effective, setting.key, value)
        origins[setting.key] = origin
    if problems:
        raise ConfigError(source, problems)
    join_origin = origins.get("fabric.join", "")
    joining_here = join_origin.startswith(("command line", "environment"))
    if joining_here and origins.get("fabric.transport", "").startswith("config"):
        # joining from the command line or the environment: this machine runs no broker
        effective["fabric"] = {k: v for k, v in effective["fabric"].items() if k != "transport"}
        origins["fabric.transport"] = f"not used: joining ({join_origin})"
    try:
        cfg = load_config(effective, source=source)
    except ConfigError as exc:
        raise ConfigError(source, [_blame(p, origins) for p in exc.problems]) from exc
    cfg.origins = origins
    return cfg


def _blame(problem: str, origins: Mapping[str, str]) -> str:
    """A problem about a key that the environment or the command line set says so."""
    for key, origin in origins.items():
        if problem.startswith(f"{key}:") and not origin.startswith(("config", "default", "not used")):
            return f"{problem} (set by the {origin})"
    return problem


def _shown(cfg: EtherConfig, setting: Setting, env: Mapping[str, str]) -> str:
    if setting.key == "state_dir":
        return state_dir()
    if not setting.in_yaml:
        value = env.get(setting.env, "").strip()
        return str(setting.normalise(value)) if value else setting.default
    if not _known(setting):
        return "(not in this version)"
    section = getattr(cfg, setting.section)
    if section is None:
        return f"(no {setting.section}: section)"
    value = getattr(section, setting.key.partition(".")[2])
    return setting.default if value is None else str(value)


def describe(cfg: EtherConfig, environ: Mapping[str, str] | None = None) -> list[tuple[str, str, str]]:
    """``(setting, value, where it came from)`` for every row of :data:`SETTINGS` this version has."""
    env = os.environ if environ is None else environ
    origins = cfg.origins or {}
    rows = []
    for s in active():
        origin = origins.get(s.key)
        if origin is None:
            origin = f"environment ({s.env})" if env.get(s.env, "").strip() else "default"
        rows.append((s.key, _shown(cfg, s, env), origin))
    return rows


def active() -> list[Setting]:
    """The rows this version has (a row of a section still to come is reserved: its variable is refused)."""
    return [s for s in SETTINGS if not s.in_yaml or _known(s)]


def table() -> str:
    """The settings as a markdown table (docs/config.md has it; a test keeps the two the same)."""
    lines = [
        "| YAML key | variable | `ether run` option | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for s in active():
        yaml_key = f"`{s.key}`" if s.in_yaml else f"(none: {s.key.replace('_', ' ')})"
        option = f"`{s.option}`" if s.option else "(none)"
        lines.append(f"| {yaml_key} | `{s.env}` | {option} | {s.default} | {s.meaning} |")
    return "\n".join(lines)


def setting(key: str) -> Setting:
    """The row of ``key``."""
    return _BY_KEY[key]
