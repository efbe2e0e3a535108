"""The YAML configuration, parsed into pydantic models with ``extra="forbid"``.

Sections: ``instances`` and ``registry`` (the fabric), ``devices`` (the bridge), ``recording`` (the
recorder) and ``logging``. Every error names the file, the key path and what was expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = [
    "ConfigError",
    "DeviceConfig",
    "EtherConfig",
    "InstanceConfig",
    "LoggingConfig",
    "RecordingConfig",
    "RegistryEntry",
    "load_config",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RestartPolicy(_Strict):
    """What the launcher does when an instance process exits unexpectedly."""

    policy: Literal["never", "on-failure", "always"] = "never"
    max_restarts: int = Field(3, ge=0)
    backoff_s: float = Field(0.5, ge=0)


class InstanceConfig(_Strict):
    class_path: str = Field(description="module.ClassName of the class to run")
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    restart: Literal["never", "on-failure", "always"] | RestartPolicy = "never"


class MethodDecorations(_Strict):
    ether_pub: dict[str, Any] | None = None
    ether_sub: dict[str, Any] | None = None
    ether_get: dict[str, Any] | None = None
    ether_init: dict[str, Any] | None = None
    ether_start: dict[str, Any] | None = None
    ether_save: dict[str, Any] | None = None
    ether_cleanup: dict[str, Any] | None = None
    ether_shutdown: dict[str, Any] | None = None


class RegistryEntry(_Strict):
    methods: dict[str, MethodDecorations]


class DeviceConfig(_Strict):
    """One board (or simulated board) attached through the bridge (ether_medium.bridge)."""

    link: str = Field(
        description="serial:///dev/ttyACM0?baud=115200 (a path, a glob such as serial:///dev/serial/by-id/* "
        "or serial://auto: the port whose board has device_id), udp://0.0.0.0:5005 (listen for a board), "
        "sim:module:Class (simulated board), cmd:COMMAND (a child whose stdin/stdout is the link)"
    )
    device_id: str | None = Field(None, description="the stable id the device must report in HELLO")
    topics: dict[str, str] = Field(default_factory=dict, description="described topic -> fabric topic")
    ping_interval_s: float = Field(1.0, gt=0, description="time-sync PING period")
    lease_s: float = Field(3.5, gt=0, description="silence after which the device counts as gone")

    @field_validator("link")
    @classmethod
    def _link_form(cls, value: str) -> str:
        from ether_medium.bridge.errors import LinkUnavailable
        from ether_medium.bridge.links import open_link

        try:
            open_link(value)  # parses the URL; opens nothing
        except LinkUnavailable as exc:
            raise ValueError(exc.reason) from exc
        return value


class RecordingConfig(_Strict):
    topics: list[str] = Field(default_factory=lambda: ["*"], description="topic names or globs")
    path: str = Field("ether_data/ether.sqlite", description="SQLite database file")
    enabled: bool = True


class LoggingConfig(_Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] | None = None


class EtherConfig(_Strict):
    instances: dict[str, InstanceConfig] = Field(default_factory=dict)
    registry: dict[str, RegistryEntry] = Field(default_factory=dict)
    devices: dict[str, DeviceConfig] = Field(default_factory=dict)
    recording: RecordingConfig | None = None
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    source: str = Field("<dict>", exclude=True, description="where this config came from")
    raw: dict[str, Any] = Field(default_factory=dict, exclude=True, description="the config as given")


class ConfigError(ValueError):
    """A config that cannot be used; the message names file, key path and what was expected."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"invalid Ether config {source}:\n  " + "\n  ".join(problems))


def _key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def load_config(config: str | Path | dict[str, Any]) -> EtherConfig:
    """Parse a YAML file path or an already-loaded dict."""
    if isinstance(config, dict):
        source, raw = "<dict>", config
    else:
        source = str(config)
        try:
            text = Path(config).read_text()
        except OSError as exc:
            raise ConfigError(source, [f"cannot read the file: {exc.strerror}"]) from exc
        try:
            raw = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(source, [f"not valid YAML: {exc}"]) from exc
        if not isinstance(raw, dict):
            raise ConfigError(source, [f"expected a mapping at the top level, got {type(raw).__name__}"])
    try:
        cfg = EtherConfig.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check its spelling and indentation)"
            problems.append(f"{_key_path(err['loc'])}: {msg}")
        raise ConfigError(source, problems) from exc
    cfg.source = source
    cfg.raw = raw
    return cfg
