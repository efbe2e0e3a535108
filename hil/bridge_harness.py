"""The bridge as the suite drives it: one ``LinkManager`` in a ``BridgeLoop``, stepped by the test thread.

No thread and no fabric: the test calls :meth:`HilBridge.run_until` with a condition and a deadline, and
the loop runs (waiting on the link, never sleeping blindly) until the condition holds. What the device
publishes, attach/detach events and device log lines are recorded by :class:`RecordingSink`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ether_medium.bridge.endpoints import Endpoint
from ether_medium.bridge.loop import BridgeLoop
from ether_medium.bridge.manager import ATTACHED, Delivery, LinkManager, Reading


class HilTimeout(AssertionError):
    """A condition the bridge was waiting for did not come true in time (the message has the state)."""


@dataclass
class Received:
    mono: float  # time.monotonic() when the sink got it
    topic: str
    data: dict[str, Any]
    reading: Reading


@dataclass
class RecordingSink:
    received: list[Received] = field(default_factory=list)
    attaches: list[tuple[float, int]] = field(default_factory=list)  # (monotonic, boot id)
    detaches: list[tuple[float, str]] = field(default_factory=list)
    logs: list[tuple[int, str]] = field(default_factory=list)

    def attached(self, mgr: LinkManager) -> None:
        assert mgr.info is not None
        self.attaches.append((time.monotonic(), mgr.info.boot_id))

    def detached(self, mgr: LinkManager, reason: str) -> None:
        self.detaches.append((time.monotonic(), reason))

    def publish(self, mgr: LinkManager, ep: Endpoint, data: dict[str, Any], reading: Reading) -> None:
        self.received.append(Received(time.monotonic(), ep.topic, data, reading))

    def device_log(self, mgr: LinkManager, level: int, text: str) -> None:
        self.logs.append((level, text))

    def on(self, topic: str, since: int = 0) -> list[Received]:
        return [r for r in self.received[since:] if r.topic == topic]


class HilBridge:
    def __init__(
        self, link: str, name: str = "dut", *, ping_interval_s: float = 0.2, lease_s: float = 2.0,
        device_id: str | None = None,
    ) -> None:
        self.sink = RecordingSink()
        self.log = logging.getLogger(f"ether.hil.{name}")
        self.mgr = LinkManager(name, link, self.sink, device_id=device_id, logger=self.log,
                               ping_interval_s=ping_interval_s, lease_s=lease_s)
        self.loop = BridgeLoop()
        self.loop.add(self.mgr)
        self.mgr.start()

    @property
    def attached(self) -> bool:
        return self.mgr.state == ATTACHED

    def describe_state(self) -> str:
        m = self.mgr
        return f"state {m.state}, last detach: {m.last_detach_reason}; counters: {m.counters.summary()}"

    def run_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.loop.step(min(left, 0.05))

    def run_until(self, cond: Callable[[], bool], timeout_s: float, what: str) -> float:
        """Step the loop until ``cond()``; return the time it took, or raise HilTimeout naming ``what``."""
        start = time.monotonic()
        deadline = start + timeout_s
        while not cond():
            left = deadline - time.monotonic()
            if left <= 0:
                raise HilTimeout(f"{what}: not within {timeout_s:g} s ({self.describe_state()})")
            self.loop.step(min(left, 0.05))
        return time.monotonic() - start

    def wait_attached(self, timeout_s: float = 10.0) -> float:
        return self.run_until(lambda: self.attached, timeout_s, "the bridge attaches the device")

    def deliver(self, topic: str, data: dict[str, Any], timeout_s: float = 5.0) -> Delivery:
        """Deliver and step until the device ACKed it (or the bridge gave up): the finished Delivery."""
        d = self.mgr.deliver(topic, data)
        self.run_until(lambda: d.done, timeout_s, f"delivery to {topic}")
        return d

    def close(self) -> None:
        self.loop.close()
