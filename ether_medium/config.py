"""The YAML configuration, parsed into pydantic models with ``extra="forbid"``.

Sections: ``instances`` and ``registry`` (the fabric), ``devices`` (the bridge), ``recording`` (the
recorder) and ``logging``. Every error names the file, the key path and what was expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

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
    """One board (or simulated board) attached through the bridge."""

    link: str = Field(
        description="serial:///dev/ttyACM0?baud=115200, udp://0.0.0.0:5005, sim:module:Class, cmd:..."
    )
    device_id: str | None = Field(None, description="the stable id the device must report in HELLO")
    topics: dict[str, str] = Field(default_factory=dict, description="described topic -> fabric topic")


class RecordingConfig(_Strict):
    """What the recorder writes and how (see :mod:`ether_medium.recorder`)."""

    topics: list[str] = Field(default_factory=lambda: ["*"], description="topic names or globs")
    path: str = Field("ether_data/ether.sqlite", description="SQLite database file")
    enabled: bool = True
    batch_rows: int = Field(2000, ge=1, description="commit after this many new rows")
    flush_interval_ms: float = Field(200.0, gt=0, description="commit at least this often while rows come")
    bye_timeout_s: float = Field(
        2.0, ge=0, description="after Ether.shutdown, how long to wait (with nothing arriving) for a missing "
        "Ether.bye",
    )
    nice: int = Field(
        5, ge=0, le=19, description="how much the recorder process lowers its CPU priority (os.nice): when "
        "cores are short the fabric goes first and the recorder catches up (ZeroMQ buffers for it)",
    )
    synchronous: Literal["normal", "full"] = Field(
        "normal",
        description="SQLite synchronous mode: normal survives a killed process, full also a power cut",
    )


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
