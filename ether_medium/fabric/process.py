"""How the launcher starts a child process: forked from the tap process, or a fresh interpreter.

* **fork** (the default on Linux/macOS when it is safe): the child is a copy of the tap process with every
  module already imported, so it is ready in milliseconds. It is safe only while this process holds no
  ZeroMQ context and runs no threads of ours, so the launcher forks every child *before* it starts the
  broker, its supervisor thread or any socket, and terminates the context it created at shutdown.
* **spawn**: ``python -m ether_medium.fabric.child`` (about 0.3 s of imports per child). Used for restarts
(the
  tap process then holds a context), when a ZeroMQ context already exists in this process, or when
  ``ETHER_START_METHOD=spawn``.

Both are represented by an object with the :class:`subprocess.Popen` subset the launcher uses
(``pid``, ``returncode``, ``poll``, ``wait``, ``terminate``, ``kill``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Protocol

import zmq

__all__ = [
    "ChildProcess",
    "ForkedProcess",
    "can_fork",
    "fork_child",
    "pid_alive",
    "spawn_child",
    "stop_process",
]


class ChildProcess(Protocol):
    @property
    def pid(self) -> int: ...
    @property
    def returncode(self) -> int | None: ...
    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def terminate(self) -> None: ...
    def kill(self) -> None: ...


class ForkedProcess:
    """A child made with :func:`os.fork`; thread-safe ``poll``/``wait`` (one ``waitpid`` reaps it)."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._returncode: int | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def returncode(self) -> int | None:
        return self._returncode

    def poll(self) -> int | None:
        with self._lock:
            if self._returncode is None:
                try:
                    pid, status = os.waitpid(self._pid, os.WNOHANG)
                except ChildProcessError:
                    self._returncode = -1
                    return self._returncode
                if pid != 0:
                    self._returncode = os.waitstatus_to_exitcode(status)
            return self._returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.0005
        while True:
            code = self.poll()
            if code is not None:
                return code
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"pid {self._pid}", timeout or 0.0)
            time.sleep(delay)
            delay = min(delay * 2, 0.01)

    def _signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, sig)

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)


def can_fork() -> bool:
    """Whether forking is safe now: a POSIX system, not disabled, and no live ``zmq.Context.instance()``
    here. (A context made with ``zmq.Context()`` cannot be seen: then set ``ETHER_START_METHOD=spawn``.)"""
    if not sys.platform.startswith("linux") or os.environ.get("ETHER_START_METHOD", "fork") != "fork":
        return False  # macOS system libraries are not fork-safe; Windows has no fork
    ctx = getattr(zmq.Context, "_instance", None)
    return ctx is None or bool(ctx.closed)


def fork_child(run: Callable[[], int]) -> ForkedProcess:
    """Fork; the child calls ``run()`` and leaves with its return value through ``os._exit`` (no atexit
    handlers, no inherited cleanup of the tap process)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            code = run()
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
            os._exit(code)
    return ForkedProcess(pid)


def spawn_child(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "ether_medium.fabric.child"], env=env)


def stop_process(proc: ChildProcess, grace_s: float = 3.0) -> int:
    """Stop ``proc`` by its own PID: SIGTERM, then SIGKILL after ``grace_s``; its exit code. A process that
    has exited already is only reaped."""
    if proc.poll() is None:
        proc.terminate()
        try:
            return proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def pid_alive(pid: int) -> bool:
    """Whether a live process has this pid on this host (one of another user counts; a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")
