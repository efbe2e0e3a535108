"""Helpers for the fabric tests: a fabric tapped in the test process, a log collector, a test client."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from ether_medium import ether
from ether_medium.fabric.client import FabricClient


class LogCollector(logging.Handler):
    """Collects the formatted records of the ``ether`` logger (the tap process's console log)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self._cond = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self._cond:
            self.lines.append(f"{record.levelname} - {record.getMessage()}")
            self._cond.notify_all()

    def wait_for(self, *needles: str, timeout: float = 10.0) -> str:
        """The first line containing every needle; fails the test after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if all(n in line for n in needles):
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no log line with {needles!r} within {timeout} s; log:\n" + "\n".join(self.lines)
                    )
                self._cond.wait(left)

    def text(self) -> str:
        with self._cond:
            return "\n".join(self.lines)


@contextlib.contextmanager
def tapped(config: dict[str, Any], **tap_kwargs: Any) -> Iterator[LogCollector]:
    """``ether.tap(config)`` + ``start()`` in this process, always shut down afterwards."""
    logs = LogCollector()
    logger = logging.getLogger("ether")
    logger.addHandler(logs)
    try:
        ether.tap(config=config, **tap_kwargs)
        try:
            ether.start()
            yield logs
        finally:
            ether.shutdown(timeout=5.0)
    finally:
        logger.removeHandler(logs)


@contextlib.contextmanager
def fabric_client(*topics: str, name: str = "tester") -> Iterator[FabricClient]:
    """A fabric client of the running session, subscribed to ``topics`` and handshaken."""
    launcher = ether.launcher
    assert launcher is not None, "tap first"
    client = FabricClient(launcher.addresses, name, context=launcher.context)
    try:
        for topic in topics:
            client.subscribe(topic)
        client.handshake(5.0)
        yield client
    finally:
        client.close(bye=False)


def expect(client: FabricClient, topic: str, timeout: float = 5.0) -> dict[str, Any]:
    env = client.wait_for(topic, timeout)
    assert env is not None, f"nothing on {topic!r} within {timeout} s"
    return env.data
