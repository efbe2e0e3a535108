"""The datagram fault proxy: listens on one 127.0.0.1 port and forwards to another, both ways.

    with DatagramFaultProxy(target=("127.0.0.1", bridge_port), target_role="bridge", rates=...) as proxy:
        point the device at proxy.address

The side that sends first to ``address`` is the peer; datagrams from it go to ``target``, and what the
target sends back (to the proxy's own forwarding socket) goes to the peer's last address. One datagram is
one frame, so every fault is counted per datagram.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import select
import socket
import threading
import time
from types import TracebackType

from hil.faults.plan import NO_FAULTS, DatagramMangler, FaultRates
from hil.faults.stats import DirectionStats

_MAX_DATAGRAM = 65535
_ROLES = ("bridge", "device")


class _Direction:
    def __init__(self, name: str, rates: FaultRates, seed: object) -> None:
        self.name = name
        self.mangler = DatagramMangler(rates, seed, name)
        self.sent = 0
        self.cut_dropped = 0
        self.unroutable = 0  # datagrams from the target before any peer had sent anything

    def snapshot(self) -> DirectionStats:
        c = self.mangler.counts
        return DirectionStats(
            direction=self.name, bytes_in=c.seen, bytes_out=self.sent, corrupted=c.corrupted,
            dropped=c.dropped, duplicated=c.duplicated, delayed=c.delayed, cut_dropped=self.cut_dropped,
            discarded=self.unroutable, frames_in=c.seen, frames_intact=c.seen - c.dropped - c.corrupted,
            frames_damaged=c.damaged_frames, frames_lost=c.dropped + c.corrupted,
            frames_duplicated=c.duplicated,
        )


class DatagramFaultProxy:
    """UDP proxy between a peer (who sends first) and ``target``; ``target_role`` names the target."""

    def __init__(
        self,
        target: tuple[str, int],
        *,
        listen: tuple[str, int] = ("127.0.0.1", 0),
        target_role: str = "device",
        rates: FaultRates = NO_FAULTS,
        to_device: FaultRates | None = None,
        to_bridge: FaultRates | None = None,
        seed: object = 0,
    ) -> None:
        if target_role not in _ROLES:
            raise ValueError(f"target_role {target_role!r}: use 'bridge' or 'device'")
        peer_role = _ROLES[1 - _ROLES.index(target_role)]
        self.target = target
        self._to_target = "to_" + target_role
        self._to_peer = "to_" + peer_role
        given = {"to_device": to_device, "to_bridge": to_bridge}
        self._dirs = {n: _Direction(n, given[n] or rates, seed) for n in ("to_device", "to_bridge")}
        self._outer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._inner = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._outer.bind(listen)
            self._inner.bind(("127.0.0.1", 0))
        except OSError:
            self._outer.close()
            self._inner.close()
            raise
        self._outer.setblocking(False)
        self._inner.setblocking(False)
        self.address: tuple[str, int] = self._outer.getsockname()
        self.peer: tuple[str, int] | None = None
        self._heap: list[tuple[float, int, str, bytes]] = []
        self._order = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._cut_until = 0.0
        self.cuts = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="hil-udp-fault-proxy", daemon=True)
        self._thread.start()

    def set_rates(
        self, rates: FaultRates | None = None, *, to_device: FaultRates | None = None,
        to_bridge: FaultRates | None = None,
    ) -> None:
        with self._lock:
            for name, new in (("to_device", to_device or rates), ("to_bridge", to_bridge or rates)):
                if new is not None:
                    self._dirs[name].mangler.set_rates(new)

    def cut(self, seconds: float) -> None:
        """Forward nothing, either way, for ``seconds`` (what is sent meanwhile is lost)."""
        with self._lock:
            self._cut_until = time.monotonic() + seconds
            self.cuts += 1
            self._heap.clear()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def inject(self, data: bytes) -> None:
        """Send ``data`` to the target from the proxy's own address, as if the peer had sent it (a bridge
        hears only its board's address once the board said HELLO)."""
        self._inner.sendto(data, self.target)

    @property
    def is_cut(self) -> bool:
        """True while datagrams are dropped (each datagram is checked against the clock when it arrives)."""
        return time.monotonic() < self._cut_until

    def stats(self) -> dict[str, DirectionStats]:
        with self._lock:
            return {name: d.snapshot() for name, d in self._dirs.items()}

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        if self._thread.is_alive():
            self._thread.join(5)
        self._outer.close()
        self._inner.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> DatagramFaultProxy:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._step()
        except BaseException as exc:
            self.error = exc
            raise

    def _step(self) -> None:
        now = time.monotonic()
        with self._lock:
            timeout = 0.25
            while self._heap and self._heap[0][0] <= now:
                _, _, name, data = heapq.heappop(self._heap)
                self._send(name, data)
            if self._heap:
                timeout = min(timeout, self._heap[0][0] - now)
        fds = [self._outer.fileno(), self._inner.fileno(), self._wake_r]
        readable, _, _ = select.select(fds, [], [], max(0.0, timeout))
        now = time.monotonic()
        with self._lock:
            if self._wake_r in readable:
                os.read(self._wake_r, 4096)
            for sock, name in ((self._outer, self._to_target), (self._inner, self._to_peer)):
                if sock.fileno() not in readable:
                    continue
                try:
                    data, sender = sock.recvfrom(_MAX_DATAGRAM)
                except (BlockingIOError, ConnectionRefusedError):
                    continue
                if sock is self._outer:
                    self.peer = sender
                d = self._dirs[name]
                if now < self._cut_until:
                    d.cut_dropped += 1
                    continue
                for delay, copy in d.mangler.mangle(data):
                    if delay <= 0:
                        self._send(name, copy)
                    else:
                        self._order += 1
                        heapq.heappush(self._heap, (now + delay, self._order, name, copy))

    def _send(self, name: str, data: bytes) -> None:
        d = self._dirs[name]
        try:
            if name == self._to_target:
                self._inner.sendto(data, self.target)
            elif self.peer is None:
                d.unroutable += 1
                return
            else:
                self._outer.sendto(data, self.peer)
        except (BlockingIOError, ConnectionRefusedError):
            d.mangler.counts.dropped += 1  # the receiver was not there: lost like on a real network
            return
        d.sent += 1
