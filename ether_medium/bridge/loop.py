"""The bridge's event loop: one thread waits on every link and fabric socket at once.

ZeroMQ's poller accepts plain file descriptors next to its sockets, so a device's bytes and a host
message for the device wake the same ``poll``; nothing is polled on a timer except what is due
(retransmissions, pings, reconnects).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import zmq

from ether_medium.bridge.manager import LinkManager

__all__ = ["BridgeLoop"]

_MAX_WAIT_S = 0.5


class BridgeLoop:
    def __init__(self) -> None:
        self.managers: list[LinkManager] = []
        self._sockets: dict[Any, Callable[[], None]] = {}
        self._flushers: list[Callable[[], None]] = []
        self._stop = False
        self._calls: deque[Callable[[], None]] = deque()
        self._poller = zmq.Poller()
        self._fds: dict[int, LinkManager] | None = None  # the fds the poller has (None: build it)
        self._n_sockets = 0
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    def add(self, mgr: LinkManager) -> None:
        self.managers.append(mgr)

    def add_socket(self, sock: zmq.Socket[bytes], on_readable: Callable[[], None]) -> None:
        self._sockets[sock] = on_readable

    def add_flush(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` at the end of every step and before closing (what a step gathered goes out at once)."""
        self._flushers.append(fn)

    @property
    def wake_fd(self) -> int:
        """Write a byte here (e.g. ``signal.set_wakeup_fd``) to make :meth:`run` look at its stop flag."""
        return self._wake_w

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the loop's thread at its next step (thread-safe)."""
        self._calls.append(fn)
        self.wake()

    def stop(self) -> None:
        """Thread-safe and signal-safe."""
        self._stop = True
        self.wake()

    def wake(self) -> None:
        with contextlib.suppress(OSError):  # full pipe: a wake-up is pending anyway
            os.write(self._wake_w, b"x")

    @property
    def stopping(self) -> bool:
        return self._stop

    def run(self, until: Callable[[], bool] | None = None, start: bool = True) -> None:
        """Run until :meth:`stop` (or ``until()`` is true); starts every manager first."""
        if start:
            now = time.monotonic()
            for m in self.managers:
                m.start(now)
        while not self._stop and (until is None or not until()):
            self.step()

    def step(self, max_wait_s: float = _MAX_WAIT_S) -> None:
        while self._calls:
            self._calls.popleft()()
        fds: dict[int, LinkManager] = {}
        for m in self.managers:
            fd = m.fileno()
            if fd >= 0:
                fds[fd] = m
        if self._fds is None or fds.keys() != self._fds.keys() or len(self._sockets) != self._n_sockets:
            # links opened or closed since the last step: a new poller (the hot path reuses it)
            self._poller = zmq.Poller()
            for fd in fds:
                self._poller.register(fd, zmq.POLLIN)
            for sock in self._sockets:
                self._poller.register(sock, zmq.POLLIN)
            self._poller.register(self._wake_r, zmq.POLLIN)
            self._n_sockets = len(self._sockets)
        self._fds = fds
        poller = self._poller
        now = time.monotonic()
        due = min((m.next_timer() for m in self.managers), default=now + max_wait_s)
        if self._calls:
            due = now
        wait_ms = max(0.0, min(due - now, max_wait_s)) * 1000.0
        events = poller.poll(int(wait_ms + 0.999))
        now = time.monotonic()
        for what, _ in events:
            if isinstance(what, int):
                if what == self._wake_r:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 512)
                    continue
                mgr = fds.get(what)
                if mgr is not None:
                    mgr.on_readable(now)
            else:
                self._sockets[what]()
        now = time.monotonic()
        for m in self.managers:
            if m.next_timer() <= now:
                m.on_timer(now)
        for fn in self._flushers:
            fn()

    def close(self) -> None:
        for fn in self._flushers:
            fn()
        for m in self.managers:
            m.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
