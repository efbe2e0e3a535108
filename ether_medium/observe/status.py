"""What a running fabric says about itself when asked: the launcher's children (``Ether.status``), each
device's bridge (``Ether.bridge.NAME`` ``{"what": "stats"}``) and the recorder's last progress report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ether_medium import topics
from ether_medium.errors import RemoteError
from ether_medium.fabric.requests import Requester

__all__ = ["FabricStatus", "ask_status"]

BAD_FRAME_COUNTERS = ("crc_errors", "cobs_errors", "oversize", "decode_errors", "version_errors")


@dataclass(slots=True)
class FabricStatus:
    session: str
    launcher_pid: int | None
    children: list[dict[str, Any]]
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> the bridge's stats
    recorder: dict[str, Any] = field(default_factory=dict)  # the last Ether.recorder.progress
    problems: list[str] = field(default_factory=list)  # what did not answer
    config: str | None = None  # the running config's file (as the launcher was given it)
    cwd: str | None = None  # the launcher's working directory (relative paths and class paths start there)

    def as_dict(self) -> dict[str, Any]:
        return {"session": self.session, "launcher_pid": self.launcher_pid, "config": self.config,
                "cwd": self.cwd, "children": self.children, "devices": self.devices,
                "recorder": self.recorder, "problems": self.problems}


def ask_status(requester: Requester, timeout: float = 2.0) -> FabricStatus:
    """Ask the launcher, then every bridge it runs; ``TimeoutError`` when the launcher does not answer."""
    value = requester.get(topics.STATUS, timeout, {})
    status = FabricStatus(str(value.get("session")), value.get("pid"), list(value.get("children", [])),
                          recorder=dict(value.get("recorder") or {}), config=value.get("config"),
                          cwd=value.get("cwd"))
    for child in status.children:
        name = str(child.get("name", ""))
        if not name.startswith("bridge.") or child.get("pid") is None or child.get("state") != "running":
            continue
        device = name.removeprefix("bridge.")
        try:
            status.devices[device] = requester.get(topics.BRIDGE_PREFIX + device, timeout, {"what": "stats"})
        except (TimeoutError, RemoteError) as exc:
            status.problems.append(f"device {device}: its bridge did not answer ({exc})")
    return status
