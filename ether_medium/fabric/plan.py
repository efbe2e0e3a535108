"""The plan of a session: which processes the launcher starts for a config, and what each one is told.

One child per ``instances:`` entry (its class, arguments, the registry and its restart policy), one bridge
service per ``devices:`` entry (on a cluster, placed on the node that has the board), the recorder when
``recording:`` is on (always restarted: :data:`RECORDER_RESTART`), the metrics exporter when ``metrics:`` is,
and the extra services given to ``ether.tap``. Nothing starts here: the launcher spawns the
:class:`~ether_medium.fabric.supervisor.Child` records that :func:`plan_children` returns, the recorder first.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any, Literal

from ether_medium.config import EtherConfig, PlacementConfig, Resources, RestartPolicy
from ether_medium.errors import LaunchError
from ether_medium.fabric.service import BRIDGE_TARGET, METRICS_TARGET, RECORDER_TARGET, ServiceSpec
from ether_medium.fabric.supervisor import TAP_NAME, Child, restart_policy

__all__ = ["RECORDER_RESTART", "plan_children", "service_specs"]

# the recorder is always restarted when it dies: a session is never left running unrecorded
RECORDER_RESTART = RestartPolicy(policy="always", max_restarts=20, backoff_s=0.2)


def service_specs(
    config: EtherConfig, extra: Sequence[ServiceSpec] = ()
) -> tuple[ServiceSpec | None, list[ServiceSpec]]:
    """The recorder (``None`` without ``recording:``) and the other services a config asks for, ``extra``
    last. Raises :class:`LaunchError` when a section needs a module this installation lacks."""
    recorder = None
    if config.recording is not None and config.recording.enabled:
        recorder = ServiceSpec("recorder", RECORDER_TARGET)
    bridges = [ServiceSpec(f"bridge.{name}", BRIDGE_TARGET, {"device": name}) for name in config.devices]
    if config.metrics is not None and config.metrics.enabled:
        bridges.append(ServiceSpec("metrics", METRICS_TARGET))
    sections = [(b, "metrics" if b.target == METRICS_TARGET else "devices") for b in bridges]
    for spec, section in [(recorder, "recording"), *sections]:
        if spec is None:
            continue
        module = spec.target.partition(":")[0]
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise LaunchError(
                f"config {config.source}: the {section!r} section needs module {module!r} "
                f"(target {spec.target}), which is not available in this installation"
            )
    return recorder, [*bridges, *extra]


def plan_children(
    config: EtherConfig, session_id: str, recorder: ServiceSpec | None, services: Sequence[ServiceSpec]
) -> dict[str, Child]:
    """The session's children by name (the recorder first), from :func:`service_specs` and the config's
    instances; nothing starts yet."""
    children: dict[str, Child] = {}
    instance_names = list(config.instances)
    if recorder is not None:
        wait_for = [TAP_NAME, *instance_names, *(s.name for s in services)]
        body = {"target": recorder.target, "kwargs": recorder.kwargs, "wait_for": wait_for}
        children[recorder.name] = Child(
            recorder.name,
            "service",
            _child_spec(config, session_id, recorder.name, "service", body),
            RECORDER_RESTART,  # a restarted recorder continues the same session (recorder.recorder)
        )
    for spec in services:
        body = {"target": spec.target, "kwargs": spec.kwargs, "wait_for": []}
        children[spec.name] = Child(
            spec.name,
            "service",
            _child_spec(config, session_id, spec.name, "service", body),
            restart_policy(spec.restart),
            placement=_bridge_placement(config, spec),
        )
    registry = dict(config.raw.get("registry") or {})
    for name, inst in config.instances.items():
        body = {
            "class_path": inst.class_path,
            "args": inst.args,
            "kwargs": inst.kwargs,
            "registry": registry,
            "errors": config.errors.model_dump(),
        }
        children[name] = Child(
            name,
            "instance",
            _child_spec(config, session_id, name, "instance", body),
            restart_policy(inst.restart),
            placement=inst.placement or PlacementConfig(),
        )
    return children


def _child_spec(
    config: EtherConfig,
    session_id: str,
    name: str,
    kind: Literal["instance", "service"],
    body: dict[str, Any],
) -> dict[str, Any]:
    """What the child process is told (``$ETHER_CHILD``, :mod:`~ether_medium.fabric.child`)."""
    spec: dict[str, Any] = {"name": name, "kind": kind, "session": session_id, kind: body}
    if kind == "service":
        spec["config"] = config.raw
        spec["config_source"] = config.source
    return spec


def _bridge_placement(config: EtherConfig, spec: ServiceSpec) -> PlacementConfig | None:
    """A bridge runs on the node that has its board: the device's ``placement``, else the node offering
    the custom resource ``device:NAME``. Other services (``None``) run on this machine."""
    if spec.target != BRIDGE_TARGET:
        return None
    device = str(spec.kwargs["device"])
    own = config.devices[device].placement
    return own or PlacementConfig(resources=Resources(custom={f"device:{device}": 1}))
