"""System-wide logging: one log, printed by the tap process in the seed's format.

* The tap process prints with :data:`FORMAT` (``2025-01-16 11:28:42.765 - Ether:51475 - INFO - ...``) to
  stderr, at the level of ``ETHER_LOG_LEVEL`` (default ``INFO``) or the config's ``logging.level``.
* The tap process also publishes its own records (name ``ether``), so the recorder records crash reports too.
* Every child process (instance, bridge, recorder) installs :class:`FabricLogHandler` on its root logger: each
  record becomes a fabric message on topic ``Ether.log`` (so the recorder can record it) with data
  ``{"level", "msg", "name", "pid", "time", "logger"}``. The tap process prints them with the child's PID and
  time and the process name in brackets.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, Protocol

from ether_medium import topics

__all__ = [
    "FORMAT",
    "FabricLogHandler",
    "FabricStdout",
    "console_handler",
    "get_logger",
    "level_from_env",
    "print_remote",
    "print_stdout",
]

FORMAT = "%(asctime)s.%(msecs)03d - Ether:%(process)d - %(levelname)s - %(message)s"
DATEFMT = "%Y-%m-%d %H:%M:%S"
LOGGER = "ether"


class LogClient(Protocol):
    """What logging needs of a fabric client (:class:`ether_medium.fabric.client.FabricClient` has it):
    named here, so this ground-floor module does not import the fabric."""

    name: str
    closed: bool
    live: bool  # True once the handshake returned: a published message reaches every subscriber
    on_live: list[Callable[[], None]]

    def publish(self, topic: str, data: dict[str, Any]) -> None: ...


def level_from_env(default: str = "INFO") -> int:
    name = os.environ.get("ETHER_LOG_LEVEL", default).upper()
    level = logging.getLevelName(name)
    return level if isinstance(level, int) else logging.INFO


def get_logger() -> logging.Logger:
    return logging.getLogger(LOGGER)


_console: logging.Handler | None = None


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stderr`` as it is when a record is printed (not when the handler was made), so a
    later redirection (pytest's capture, a notebook) gets the records."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def console_handler(level: int | None = None) -> logging.Handler:
    """Install (once) the seed-format console handler on the ``ether`` logger of the tap process."""
    global _console
    logger = get_logger()
    if _console is None:
        _console = _Stderr()
        _console.setFormatter(logging.Formatter(FORMAT, DATEFMT))
        logger.addHandler(_console)
        logger.propagate = False
    logger.setLevel(level_from_env() if level is None else level)
    return _console


def print_remote(data: dict[str, Any]) -> None:
    """Print a record received on ``Ether.log`` through the tap process's ``ether`` logger."""
    logger = get_logger()
    try:
        levelno = int(data.get("level", logging.INFO))
    except (TypeError, ValueError, OverflowError):  # anything may arrive on Ether.log
        levelno = logging.INFO
    if not logger.isEnabledFor(levelno):
        return
    created = data.get("time")
    record = logging.makeLogRecord(
        {
            "name": LOGGER,
            "levelno": levelno,
            "levelname": logging.getLevelName(levelno),
            "msg": f"[{data.get('name', '?')}] {data.get('msg', '')}",
            "process": data.get("pid", 0),
            "ether_remote": True,
        }
    )
    if isinstance(created, int | float) and 0 <= created < 1e11:  # a time the log formatter can show
        record.created = float(created)
        record.msecs = (record.created - int(record.created)) * 1000
    logger.handle(record)


class FabricStdout(io.TextIOBase):
    """``sys.stdout`` of a child on a cluster node: each printed line goes on ``Ether.stdout``
    ``{name, text}`` (the tap process prints it), so output reaches the console from any machine, and before
    the process's ``Ether.bye``. Lines printed before the client's handshake are held back (up to 1000)."""

    def __init__(self, client: LogClient) -> None:
        self.client = client
        self._partial = ""
        self._early: list[str] = []
        self._lock = threading.Lock()
        client.on_live.append(self._release)

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            lines = (self._partial + text).split("\n")
            self._partial = lines.pop()
            if lines:
                self._send("".join(f"{line}\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._partial:
                text, self._partial = self._partial, ""
                self._send(text)

    def _send(self, text: str) -> None:
        if not self.client.live:
            if len(self._early) < 1000:
                self._early.append(text)
            return
        if not self.client.closed:
            self.client.publish(topics.STDOUT, {"name": self.client.name, "text": text})

    def _release(self) -> None:
        early, self._early = self._early, []
        for text in early:
            self.client.publish(topics.STDOUT, {"name": self.client.name, "text": text})


def print_stdout(data: dict[str, Any]) -> None:
    """Write what a child printed (received on ``Ether.stdout``) to this process's stdout."""
    text = data.get("text")
    if isinstance(text, str):
        sys.stdout.write(text)
        sys.stdout.flush()


class FabricLogHandler(logging.Handler):
    """Publish log records on ``Ether.log`` through a fabric client (thread-safe)."""

    def __init__(self, client: LogClient, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.client = client
        self._local = threading.local()
        self._early: list[dict[str, Any]] = []  # records from before the client's handshake
        client.on_live.append(self.flush)

    def flush(self) -> None:
        early, self._early = self._early, []
        if self.client.closed:  # logging.shutdown at the exit of a spawned child: nothing can be sent
            return
        for data in early:
            self.client.publish(topics.LOG, data)

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "ether_remote", False):  # a child's record: on the fabric already
            return
        if getattr(self._local, "busy", False) or self.client.closed:
            return
        self._local.busy = True
        try:
            msg = record.getMessage()
            if record.exc_info:
                msg += "\n" + logging.Formatter().formatException(record.exc_info)
            data = {
                "level": record.levelno,
                "msg": msg,
                "name": self.client.name,
                "pid": record.process or os.getpid(),
                "time": record.created,
                "logger": record.name,
            }
            if not self.client.live:
                if len(self._early) < 1000:
                    self._early.append(data)
                return
            self.client.publish(topics.LOG, data)
        except Exception:
            self.handleError(record)
        finally:
            self._local.busy = False
