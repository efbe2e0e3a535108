"""Service processes: what the launcher runs besides instances (one bridge per ``devices:`` entry, one
recorder when ``recording:`` is set, or anything else given as a :class:`ServiceSpec`).

A service target is ``"module:function"``; in its own process the launcher calls ``function(ctx)`` with a
:class:`ServiceContext`. The contract for a target:

1. subscribe what it needs on ``ctx.client``, then call ``ctx.ready()`` (handshake + ``Ether.ready``); the
   launcher waits for that (the recorder is started, and ready, before any instance);
2. run until it receives ``Ether.shutdown`` (or ``ctx.stop`` is set, on SIGTERM, or ``ctx.tap_alive()`` turns
   false because the tap process died), then return. The recorder
   keeps draining until it has seen ``Ether.bye`` from every name in ``ctx.wait_for`` (or
   ``Ether.exited`` for it, published by the launcher when a process died without saying bye);
3. after it returns, the process closes ``ctx.client`` with ``Ether.bye`` as its last message.

Log with ``logging.getLogger("ether")`` (or any logger): records reach the tap process's console.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

from ether_medium.config import EtherConfig
from ether_medium.fabric.broker import BrokerAddresses
from ether_medium.fabric.client import FabricClient

__all__ = ["BRIDGE_TARGET", "METRICS_TARGET", "RECORDER_TARGET", "ServiceContext", "ServiceSpec"]

BRIDGE_TARGET = "ether_medium.bridge.service:main"
RECORDER_TARGET = "ether_medium.recorder.service:main"
METRICS_TARGET = "ether_medium.observe.metrics:main"


@dataclass(frozen=True)
class ServiceSpec:
    """A service process to start: its fabric ``name``, ``target`` ``"module:function"`` and extra ``kwargs``
    (JSON-serialisable) that reach the target as ``ctx.kwargs``."""

    name: str
    target: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    restart: str = "never"  # "never" | "on-failure" | "always"


@dataclass
class ServiceContext:
    name: str
    session_id: str
    addresses: BrokerAddresses
    config: EtherConfig
    client: FabricClient
    kwargs: dict[str, Any] = field(default_factory=dict)
    wait_for: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    listening: bool = False
    tap_pid: int = field(default_factory=os.getppid)

    def tap_alive(self) -> bool:
        """Whether the process that started this one still runs (check it when idle; exit if not)."""
        return os.getppid() == self.tap_pid

    def ready(self, timeout: float = 30.0, **info: Any) -> None:
        """Handshake with the broker, answer the launcher's roll call with ``Ether.ready``; call after
        subscribing (see :meth:`FabricClient.join`)."""
        self.client.join(self.listening, timeout, kind="service", **info)
