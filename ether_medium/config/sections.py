"""The sections of a config file as pydantic models (``extra="forbid"``): instances and their placement and
restart policy, the registry, devices, recording, metrics, logging, the fabric, the cluster, and errors.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "ClusterConfig",
    "CurveConfig",
    "DeviceConfig",
    "ErrorsConfig",
    "FabricConfig",
    "InstanceConfig",
    "LoggingConfig",
    "MethodDecorations",
    "MetricsConfig",
    "NoOptions",
    "PlacementConfig",
    "PubOptions",
    "RecordingConfig",
    "RegistryEntry",
    "Resources",
    "RestartPolicy",
    "SubOptions",
    "TopicOptions",
    "parse_join",
]



class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RestartPolicy(_Strict):
    """What the launcher does when an instance process exits unexpectedly."""

    policy: Literal["never", "on-failure", "always"] = Field(
        "never", description="never; on-failure (an exit code other than 0); always"
    )
    max_restarts: int = Field(3, ge=0, description="restarts at most this many times in a run")
    backoff_s: float = Field(
        0.5, ge=0, description="wait before the first restart; doubled before each further one"
    )


class Resources(_Strict):
    """What a process needs from the node it runs on (Ray's vocabulary: a node offers resources, an actor
    reserves them while it runs)."""

    num_cpus: float | None = Field(
        default=None, ge=0, description="CPUs reserved (default 0: nothing reserved)"
    )
    num_gpus: float | None = Field(default=None, ge=0, description="GPUs reserved")
    memory: int | None = Field(default=None, ge=0, description="bytes of memory reserved")
    custom: dict[str, float] = Field(
        default_factory=dict, description="custom resources, e.g. {\"camera\": 1} (a node started with "
        "ray start --resources '{\"camera\": 1}')",
    )


class PlacementConfig(_Strict):
    """Where a process runs on a cluster (``cluster: {engine: ray}``); ignored by the local engine."""

    resources: Resources = Field(default_factory=Resources, description="what it needs from its node")
    node_id: str | None = Field(default=None, description="run on this Ray node (its hex node id)")
    labels: dict[str, str] = Field(
        default_factory=dict, description="run on a node with these labels (ray start --labels)"
    )
    soft: bool = Field(
        default=False, description="true: prefer that node (or those labels), run elsewhere when it is gone "
        "or full; false: only there (reported when it cannot run)",
    )

    @field_validator("node_id")
    @classmethod
    def _node_id_form(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9a-f]{56}", value):
            raise ValueError(
                f"expected a Ray node id (56 hex digits, as `ray list nodes` shows them), got {value!r}"
            )
        return value


class InstanceConfig(_Strict):
    """One instance: an object of a decorated class, in a process of its own."""

    class_path: str = Field(description="module.ClassName of the class to run")
    args: list[Any] = Field(default_factory=list, description="positional arguments of the constructor")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the constructor")
    restart: Literal["never", "on-failure", "always"] | RestartPolicy = Field(
        "never", description="what to do when the process exits unexpectedly: a policy name, or a mapping "
        "(policy, max_restarts, backoff_s)",
    )
    save_timeout_s: float = Field(
        10.0, gt=0, description="at shutdown, how long this instance's ether_save handlers may take; past it "
        "the instance is stopped alone (the others' cleanup still runs)",
    )
    cleanup_timeout_s: float = Field(
        10.0, gt=0, description="at shutdown, how long this instance's ether_cleanup handlers may take; past "
        "it the instance is stopped alone",
    )
    placement: PlacementConfig | None = Field(
        None, description="where it runs on a cluster (cluster: section): resources, node, labels"
    )


class TopicOptions(_Strict):
    """Options of ``ether_pub`` / ``ether_sub`` / ``ether_get`` in the registry (``{}`` for the defaults)."""

    topic: str | None = Field(None, description="the topic; default ClassName.method")


class PubOptions(TopicOptions):
    """Options of ``ether_pub`` in the registry."""

    every: float | None = Field(
        None, gt=0, description="seconds between the calls the instance makes itself (a periodic publisher)"
    )


def _handler_form(value: str | None, method_allowed: bool) -> str | None:
    if value is None:
        return None
    module, colon, func = value.strip().partition(":")
    ok_module = all(part.isidentifier() for part in module.split("."))
    if colon and ok_module and func.isidentifier():
        return value.strip()
    if not colon and method_allowed and module.isidentifier():
        return value.strip()
    expected = "a method name ('alert') or 'module:function'" if method_allowed else "'module:function'"
    raise ValueError(f"on_error: expected {expected} (for example 'mypackage.alerts:notify'), got {value!r}")


class SubOptions(TopicOptions):
    """Options of ``ether_sub`` in the registry: what happens when the method raises."""

    retries: int | None = Field(None, ge=0, description="run the method again this often after it raised")
    retry_delay: float | None = Field(None, ge=0, description="seconds between tries")
    on_error: str | None = Field(
        None, description="called with (message, exception) after the last try: a method or module:function"
    )

    @field_validator("on_error")
    @classmethod
    def _on_error_form(cls, value: str | None) -> str | None:
        return _handler_form(value, method_allowed=True)


class ErrorsConfig(_Strict):
    """What happens when a subscriber (``ether_sub``) of any instance raises, unless its decorator or its
    class (an ``ether_on_error`` method) says otherwise."""

    retries: int = Field(default=0, ge=0, description="run a handler that raised again this many times")
    retry_delay: float = Field(default=0.0, ge=0, description="seconds between tries")
    on_error: str | None = Field(
        default=None, description="module:function called with (message, exception) after the last try"
    )

    @field_validator("on_error")
    @classmethod
    def _on_error_form(cls, value: str | None) -> str | None:
        return _handler_form(value, method_allowed=False)


class NoOptions(_Strict):
    """Lifecycle decorators take no options: write ``{}``."""


class MethodDecorations(_Strict):
    """The decorators to apply to one method of a class you cannot edit (each ``{}`` or its options)."""

    ether_pub: PubOptions | None = Field(default=None, description="publish what the method returns")
    ether_sub: SubOptions | None = Field(default=None, description="call the method with each message")
    ether_get: TopicOptions | None = Field(default=None, description="answer ether.get requests")
    ether_init: NoOptions | None = Field(default=None, description="call it at Ether.init")
    ether_start: NoOptions | None = Field(default=None, description="call it at Ether.start")
    ether_save: NoOptions | None = Field(
        default=None, description="call it at Ether.save; a dict it returns is recorded"
    )
    ether_cleanup: NoOptions | None = Field(default=None, description="call it at Ether.cleanup")
    ether_shutdown: NoOptions | None = Field(default=None, description="call it at Ether.shutdown")


class RegistryEntry(_Strict):
    """A class decorated from the config (key: its module.ClassName), for classes you cannot edit."""

    methods: dict[str, MethodDecorations] = Field(description="method name -> its decorators")


class DeviceConfig(_Strict):
    """One board (or simulated board) attached through the bridge (ether_medium.bridge)."""

    link: str = Field(
        description="serial:///dev/ttyACM0?baud=115200 (a path, a glob such as serial:///dev/serial/by-id/* "
        "or serial://auto: the port whose board has device_id), udp://:5005 (listen for a board on loopback; "
        "udp://0.0.0.0:5005: on every interface, with device_id), "
        "sim:module:Class (simulated board), cmd:COMMAND (a child whose stdin/stdout is the link)"
    )
    device_id: str | None = Field(None, description="the stable id the device must report in HELLO")
    key: str | None = Field(
        None,
        min_length=1,
        repr=False,
        description="shared secret of a keyed link (PROTOCOL.md 6.1): the board runs run(..., key=) with the "
        "same text; its HELLO must prove it and every frame carries a MAC, so a spoofed HELLO, PUB or ACK is "
        "refused (the board needs hashlib or adafruit_hashlib)",
    )
    key_file: str | None = Field(
        None,
        min_length=1,
        description="the same shared secret read from a file only its owner can read (chmod 600), so that "
        "the config can be shared and committed; instead of key",
    )
    topics: dict[str, str] = Field(default_factory=dict, description="described topic -> fabric topic")
    ping_interval_s: float = Field(1.0, gt=0, description="time-sync PING period")
    lease_s: float = Field(3.5, gt=0, description="silence after which the device counts as gone")
    placement: PlacementConfig | None = Field(
        None, description="where its bridge runs on a cluster; default: the node offering the custom "
        "resource device:NAME",
    )

    @field_validator("link")
    @classmethod
    def _link_form(cls, value: str) -> str:
        from ether_medium.bridge.links import open_link
        from ether_medium.errors import LinkURLError

        try:
            open_link(value)  # checks the URL (each scheme its own); opens nothing
        except LinkURLError as exc:
            raise ValueError(exc.expected) from exc
        return value

    def secret(self) -> str | None:
        """The link's key: ``key``, or what ``key_file`` holds (``KeyFileError`` when it cannot be used)."""
        if self.key_file is None:
            return self.key
        from ether_medium.bridge.keying import read_key_file

        return read_key_file(self.key_file, "key_file")

    @model_validator(mode="after")
    def _one_key(self) -> DeviceConfig:
        if self.key is not None and self.key_file is not None:
            raise ValueError("give key or key_file, not both")
        return self

    @model_validator(mode="after")
    def _exposed_link_names_its_board(self) -> DeviceConfig:
        from ether_medium.bridge.links import exposure_problem, open_link

        problem = exposure_problem(open_link(self.link), self.device_id)
        if problem is not None:
            raise ValueError(f"link: {problem}")
        return self


class RecordingConfig(_Strict):
    """What the recorder writes and how (see :mod:`ether_medium.recorder`)."""

    topics: list[str] = Field(default_factory=lambda: ["*"], description="topic names or globs")
    path: str = Field("ether_data/ether.sqlite", description="SQLite database file")
    enabled: bool = Field(default=True, description="false: keep the section, record nothing")
    batch_rows: int = Field(2000, ge=1, description="commit after this many new rows")
    flush_interval_ms: float = Field(200.0, gt=0, description="commit at least this often while rows come")
    buffer_rows: int = Field(
        500_000, ge=1, description="while the database fails (disk full, unwritable), how many rows the "
        "recorder holds in memory for the retry; beyond that the oldest are dropped and counted",
    )
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


class MetricsConfig(_Strict):
    """A Prometheus exporter for the whole rig (:mod:`ether_medium.observe.metrics`; ``pip install
    'ether-medium[metrics]'``): ``http://HOST:PORT/metrics``."""

    port: int = Field(9464, ge=1, le=65535, description="the HTTP port /metrics is served on")
    host: str = Field(
        "127.0.0.1", description="the address it binds (loopback; 0.0.0.0 lets other machines scrape it)"
    )
    interval_s: float = Field(1.0, gt=0, description="how often processes, devices and recorder are asked")
    enabled: bool = Field(True, description="false: keep the section but serve nothing")


class LoggingConfig(_Strict):
    """The console log of every process and device."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] | None = Field(
        default=None, description="the lowest level shown; default INFO, or $ETHER_LOG_LEVEL"
    )


class CurveConfig(_Strict):
    """CURVE keys (files made by ``ether keys DIR``; relative paths are relative to the directory ether runs
    in)."""

    key: str = Field(description="this machine's key pair: the NAME.key_secret file")
    authorized: str | None = Field(
        None,
        description="broker machine: directory of the public keys (NAME.key) of machines allowed to join",
    )
    server_key: str | None = Field(None, description="joining machine: the broker machine's public key file")


class FabricConfig(_Strict):
    """How processes reach the broker. ``ipc`` (default): this machine only. ``tcp``: the broker also listens
    on ``host``:``port`` (publishers) and ``port+1`` (subscribers) for other machines. ``join``: run this
    config's instances and devices here, in the session whose broker is at ``tcp://HOST:PORT``."""

    transport: Literal["ipc", "tcp"] = Field(
        default="ipc", description="ipc: this machine only; tcp: other machines may join"
    )
    host: str = Field(
        default="127.0.0.1", description="the address the broker binds for tcp (0.0.0.0: every interface)"
    )
    port: int = Field(default=5555, ge=1, le=65534, description="publishers' port; subscribers use port+1")
    join: str | None = Field(default=None, description="tcp://HOST:PORT of a running session's broker")
    curve: CurveConfig | None = Field(
        default=None, description="CURVE keys: needed for tcp beyond loopback and to join over the network"
    )

    @model_validator(mode="after")
    def _safe(self) -> FabricConfig:
        if self.transport == "ipc" and self.join is None:
            return self
        from ether_medium.fabric.curve import NO_CURVE_HINT, is_loopback

        if self.join is not None:
            if self.transport == "tcp":
                raise ValueError(
                    "join (run here, in a session on another machine) and transport: tcp (run the "
                    "session's broker here) exclude each other: remove one"
                )
            host, _ = parse_join(self.join)
            if self.curve is None and not is_loopback(host):
                raise ValueError(
                    f"joining {self.join} over the network needs CURVE keys (fabric.curve): {NO_CURVE_HINT}"
                )
            if self.curve is not None and self.curve.server_key is None:
                raise ValueError(
                    "curve.server_key is missing: a joining machine needs the broker machine's "
                    "public key file (its NAME.key)"
                )
        elif self.transport == "tcp":
            if self.curve is None and not is_loopback(self.host):
                raise ValueError(
                    f"transport: tcp on {self.host!r}, which other machines can reach, needs CURVE "
                    f"authentication (fabric.curve); without keys use host: 127.0.0.1. {NO_CURVE_HINT}"
                )
            if self.curve is not None and self.curve.authorized is None:
                raise ValueError(
                    "curve.authorized is missing: the broker machine needs the directory of the "
                    "public keys (NAME.key files) of the machines allowed to join"
                )
        return self


def parse_join(url: str) -> tuple[str, int]:
    """``tcp://HOST:PORT`` -> (HOST, PORT); ``ValueError`` naming the expected form."""
    rest = url.removeprefix("tcp://")
    host, _, port = rest.rpartition(":")
    if not url.startswith("tcp://") or not host or not port.isdigit() or not 1 <= int(port) <= 65534:
        raise ValueError(
            f"join: expected tcp://HOST:PORT (the main session's fabric.host and fabric.port), got {url!r}"
        )
    return host.strip("[]"), int(port)


class ClusterConfig(_Strict):
    """Where the session's processes run: local processes (default) or a Ray cluster (docs/cluster.md)."""

    engine: Literal["local", "ray"] = Field(
        default="local", description="local: processes of this machine; ray: Ray actors on a Ray cluster"
    )
    address: str = Field(
        default="local", description="ray: local (start a Ray on this machine), auto (the running one) or "
        "ray://HOST:PORT (a cluster's client server)",
    )
    local_ipc: bool = Field(
        default=True, description="processes Ray places on this machine reach the broker over ipc (false: "
        "over TCP with CURVE, as other machines do)",
    )

    @field_validator("address")
    @classmethod
    def _address_form(cls, value: str) -> str:
        if value in ("local", "auto") or value.startswith("ray://") or ":" in value:
            return value
        raise ValueError(f"expected local, auto, ray://HOST:PORT or HOST:PORT, got {value!r}")
