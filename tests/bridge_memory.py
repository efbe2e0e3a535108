"""An in-memory link between a bridge's LinkManager and an ether_lite Node in the same process, on a fake
clock: the manager's state machine tested without processes, ptys or sleeps (tests/test_bridge_memory.py).

Each direction may damage its bytes with the HIL fault injector's own seeded mangler
(:class:`hil.faults.plan.ByteMangler`), so a noisy line is the same here as in the HIL fault tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ether_lite import Node, ether_pub, ether_sub
from ether_medium.bridge.endpoints import Endpoint
from ether_medium.bridge.links import Link
from ether_medium.bridge.manager import LinkManager, Reading
from hil.faults.plan import ByteMangler, FaultRates


class Wire:
    """One direction of the link: what is written can be read, after the mangler (no delays) had it."""

    def __init__(self, rates: FaultRates | None, seed: object, name: str) -> None:
        self.buf = bytearray()
        self.mangler = ByteMangler(rates, seed, name) if rates is not None else None

    def put(self, data: bytes) -> None:
        if self.mangler is None:
            self.buf += data
        else:
            for _, piece in self.mangler.mangle(bytes(data)):
                self.buf += piece

    def take(self, n: int) -> bytes:
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data


class HostEnd(Link):
    """The bridge's end (ether_medium's link contract)."""

    def __init__(self, to_host: Wire, to_device: Wire) -> None:
        super().__init__("memory:")
        self.to_host, self.to_device = to_host, to_device
        self._open = False

    def open(self) -> None:
        self._open = True

    def fileno(self) -> int:
        return -1

    def read(self) -> bytes:
        return self.to_host.take(65536)

    def write(self, data: bytes) -> None:
        self.to_device.put(data)

    def close(self) -> None:
        self._open = False

    @property
    def is_open(self) -> bool:
        return self._open


class DeviceEnd:
    """The board's end (ether_lite's link contract)."""

    connected = True

    def __init__(self, to_host: Wire, to_device: Wire) -> None:
        self.to_host, self.to_device = to_host, to_device

    def readinto(self, buf: Any) -> int:
        data = self.to_device.take(len(buf))
        buf[: len(data)] = data
        return len(data)

    def write(self, buf: Any, n: int = -1) -> None:
        self.to_host.put(bytes(buf[: len(buf) if n < 0 else n]))


def memory_link(rates: FaultRates | None = None, seed: object = 0) -> tuple[HostEnd, DeviceEnd]:
    to_host, to_device = Wire(rates, seed, "to_host"), Wire(rates, seed, "to_device")
    return HostEnd(to_host, to_device), DeviceEnd(to_host, to_device)


class Rig:
    """Eight endpoints, none timed (the device side runs on real time; the host on the fake clock)."""

    def __init__(self) -> None:
        self.on = False

    @ether_pub(fields=[("celsius", "f")])
    def read(self) -> dict[str, float]:
        return {"celsius": 21.5}

    @ether_pub(fields=[("on", "b"), ("count", "i")])
    def led(self) -> dict[str, Any]:
        return {"on": self.on, "count": 1}

    @ether_pub(fields=[("text", "s")])
    def status(self) -> dict[str, str]:
        return {"text": "ok"}

    @ether_pub(fields=[("i", "i")])
    def sample(self) -> dict[str, int]:
        return {"i": 0}

    @ether_sub(fields=[("on", "b")])
    def set_led(self, on: bool) -> None:
        self.on = on
        self.led()

    @ether_sub(fields=[("i", "i")])
    def mark(self, i: int) -> None:
        pass

    @ether_sub(fields=[("text", "s")])
    def echo(self, text: str) -> None:
        pass

    @ether_sub(fields=[])
    def reset(self) -> None:
        pass


class Recorder:
    """A Sink that remembers what it was told."""

    def __init__(self) -> None:
        self.attaches = 0
        self.detaches: list[str] = []
        self.readings: list[tuple[str, dict[str, Any]]] = []

    def attached(self, mgr: LinkManager) -> None:
        self.attaches += 1

    def detached(self, mgr: LinkManager, reason: str) -> None:
        self.detaches.append(reason)

    def publish(self, mgr: LinkManager, ep: Endpoint, data: dict[str, Any], reading: Reading) -> None:
        self.readings.append((ep.topic, data))

    def device_log(self, mgr: LinkManager, level: int, text: str) -> None:
        pass


class Bench:
    """A LinkManager and a Node on one memory link; ``t`` is the manager's (fake) monotonic time."""

    def __init__(self, rates: FaultRates | None = None, seed: object = 0, *, boot_id: int = 7) -> None:
        self.host, self.dev_end = memory_link(rates, seed)
        self.rig = Rig()
        self.node: Node | None = Node([self.rig], self.dev_end, device_id="mem-1", boot_id=boot_id)
        self.sink = Recorder()
        self.mgr = LinkManager("mem", self.host, self.sink, ping_interval_s=0.5, lease_s=3.5)
        self.sent: list[list[Any]] = []  # what the manager sent, decoded
        self.t = 100.0
        send = self.mgr.send

        def recording_send(msg: list[Any]) -> None:
            self.sent.append(msg)
            send(msg)

        self.mgr.send = recording_send  # type: ignore[method-assign]
        self.mgr.inbound.send = recording_send
        self.mgr.start(self.t)

    def reboot(self, boot_id: int) -> None:
        """The board resets: a new Node (new boot id) on the same link."""
        assert self.node is not None
        self.node.close()
        self.node = Node([self.rig], self.dev_end, device_id="mem-1", boot_id=boot_id)

    def step(self, dt: float = 0.001) -> None:
        if self.node is not None:
            self.node.poll()
        self.mgr.on_readable(self.t)
        if self.mgr.next_timer() <= self.t:
            self.mgr.on_timer(self.t)
        self.t += dt

    def run_until(self, cond: Callable[[], bool], limit_s: float, dt: float = 0.001) -> float:
        """Step until ``cond()``; the fake time it took (AssertionError after ``limit_s``)."""
        t0 = self.t
        while not cond():
            c = self.mgr.counters.summary()
            assert self.t - t0 < limit_s, f"not within {limit_s} s: {self.mgr.state}, {c}"
            self.step(dt)
        return self.t - t0

    def run_for(self, seconds: float, dt: float = 0.001) -> None:
        end = self.t + seconds
        while self.t < end:
            self.step(dt)

    def queries(self) -> list[list[Any]]:
        return [m for m in self.sent if m[0] == 9]

    def close(self) -> None:
        if self.node is not None:
            self.node.close()
        self.mgr.close()
