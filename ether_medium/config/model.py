"""A whole config file (:class:`EtherConfig`): its sections, and the checks that span them (names unique
across instances and devices, names the fabric keeps for itself)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from ether_medium.config.sections import (
    ClusterConfig,
    CurveConfig,
    DeviceConfig,
    ErrorsConfig,
    FabricConfig,
    InstanceConfig,
    LoggingConfig,
    MethodDecorations,
    MetricsConfig,
    NoOptions,
    PubOptions,
    RecordingConfig,
    RegistryEntry,
    RestartPolicy,
    SubOptions,
    TopicOptions,
    _Strict,
)


class EtherConfig(_Strict):
    """A whole config file."""

    instances: dict[str, InstanceConfig] = Field(
        default_factory=dict, description="instance name -> the object to run in its own process"
    )
    registry: dict[str, RegistryEntry] = Field(
        default_factory=dict, description="module.ClassName -> decorators for a class you cannot edit"
    )
    devices: dict[str, DeviceConfig] = Field(
        default_factory=dict, description="device name -> a board attached through the bridge"
    )
    recording: RecordingConfig | None = Field(
        None, description="record messages (absent: nothing is recorded)"
    )
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="the console log")
    metrics: MetricsConfig | None = Field(
        None, description="serve Prometheus metrics over HTTP (absent: no metrics)"
    )
    fabric: FabricConfig = Field(
        default_factory=FabricConfig, description="how processes reach the broker (default: this machine)"
    )
    errors: ErrorsConfig = Field(
        default_factory=ErrorsConfig, description="what happens when a subscriber raises (retries, on_error)"
    )
    cluster: ClusterConfig | None = Field(
        None, description="run the processes on a cluster (absent: local processes, Ray never imported)"
    )
    source: str = Field("<dict>", exclude=True, description="where this config came from")
    raw: dict[str, Any] = Field(default_factory=dict, exclude=True, description="the config as given")
    origins: dict[str, str] | None = Field(
        None, exclude=True, description="ether_medium.settings.resolve: where each setting came from"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_internal_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            internal = sorted(k for k in ("source", "raw", "origins") if k in data)
            if internal:
                keys = [n for n, f in cls.model_fields.items() if not f.exclude]
                raise ValueError(
                    f"unknown top-level key(s) {', '.join(internal)} (check their spelling and indentation); "
                    f"expected one of: {', '.join(keys)}"
                )
        return data

    @field_validator("instances")
    @classmethod
    def _names_are_free(cls, instances: dict[str, InstanceConfig]) -> dict[str, InstanceConfig]:
        for name in instances:
            if name in RESERVED_NAMES or name.startswith(("bridge.", "Ether.", "ether.")) or not name:
                raise ValueError(
                    f"instance name {name!r} is reserved for Ether's own processes "
                    f"({', '.join(sorted(RESERVED_NAMES))}, bridge.*); choose another name"
                )
        return instances

    @model_validator(mode="after")
    def _names_are_unique(self) -> EtherConfig:
        both = sorted(set(self.instances) & set(self.devices))
        if both:
            raise ValueError(
                f"{', '.join(repr(n) for n in both)}: both an instance and a device; names must be unique "
                "across instances and devices (each is a source on the fabric and a process): rename one"
            )
        return self

    @model_validator(mode="after")
    def _joining_does_not_record(self) -> EtherConfig:
        if self.fabric.join is not None and self.recording is not None:
            raise ValueError(
                "recording: a machine that joins a session does not record (the main session's "
                "recorder records its messages too); remove recording: from this config"
            )
        return self


RESERVED_NAMES = frozenset({"ether", "recorder", "monitor", "metrics"})

# section models by key path pattern ("*" = any name), to list the keys a section accepts
_SECTIONS: list[tuple[tuple[str, ...], type[BaseModel]]] = [
    ((), EtherConfig),
    (("instances", "*"), InstanceConfig),
    (("instances", "*", "restart"), RestartPolicy),
    (("registry", "*"), RegistryEntry),
    (("registry", "*", "methods", "*"), MethodDecorations),
    (("registry", "*", "methods", "*", "ether_pub"), PubOptions),
    (("registry", "*", "methods", "*", "ether_sub"), SubOptions),
    (("registry", "*", "methods", "*", "ether_get"), TopicOptions),
    (("registry", "*", "methods", "*", "*"), NoOptions),
    (("devices", "*"), DeviceConfig),
    (("recording",), RecordingConfig),
    (("logging",), LoggingConfig),
    (("metrics",), MetricsConfig),
    (("fabric",), FabricConfig),
    (("errors",), ErrorsConfig),
    (("fabric", "curve"), CurveConfig),
]
_MODEL_NAMES = frozenset(model.__name__ for _, model in _SECTIONS)
