"""Decorated classes for the retry and error-handler tests (imported by class path in the instances)."""

from __future__ import annotations

from typing import Any

from ether_medium import ether, ether_get, ether_pub, ether_sub

# what module-level handlers saw, reported back on the fabric (they run in the instance process)


def notify(message: dict[str, Any], exc: BaseException) -> None:
    """A module-level error handler (named as "retry_apps:notify")."""
    ether.publish("handled", by="notify", message=message, error=f"{type(exc).__name__}: {exc}")


def broken_handler(message: dict[str, Any], exc: BaseException) -> None:
    raise RuntimeError("the handler itself is broken")


class Flaky:
    """Raises twice per message, then succeeds: with retries=2 each message is handled once."""

    def __init__(self) -> None:
        self.tries: dict[int, int] = {}

    @ether_sub(topic="flaky", retries=2)
    @ether_pub(topic="flaky_done")
    def handle(self, n: int) -> dict:
        self.tries[n] = self.tries.get(n, 0) + 1
        if self.tries[n] <= 2:
            raise ConnectionError(f"instrument busy ({self.tries[n]})")
        return {"n": n, "tries": self.tries[n]}

    @ether_sub(topic="flaky_slow", retries=1, retry_delay=0.2)
    @ether_pub(topic="flaky_slow_done")
    def slow(self, n: int) -> dict:
        self.tries[-n] = self.tries.get(-n, 0) + 1
        if self.tries[-n] == 1:
            raise ConnectionError("busy")
        return {"n": n}

    @ether_sub(topic="flaky_next")
    @ether_pub(topic="flaky_next_done")
    def after(self, n: int) -> dict:
        return {"n": n}


class AlwaysFails:
    """Always raises; on_error names a method of the class."""

    def __init__(self) -> None:
        self.calls = 0

    @ether_sub(topic="always", retries=1, on_error="alert")
    def handle(self, n: int) -> None:
        self.calls += 1
        raise ValueError(f"cannot handle {n} (call {self.calls})")

    def alert(self, message: dict[str, Any], exc: BaseException) -> None:
        ether.publish("handled", by="alert", message=message, error=f"{type(exc).__name__}: {exc}")

    @ether_sub(topic="always_module", on_error="retry_apps:notify")
    def module_handler(self, n: int) -> None:
        raise KeyError(n)

    @ether_sub(topic="always_broken", on_error="retry_apps:broken_handler")
    def broken(self, n: int) -> None:
        raise ValueError("first problem")

    @ether_sub(topic="alive")
    @ether_pub(topic="alive_ok")
    def alive(self) -> dict:
        return {"ok": True}


class InstanceWide:
    """No on_error on the subscriber: the class's ether_on_error handles it."""

    @ether_sub(topic="instance_wide")
    def handle(self, n: int) -> None:
        raise OSError(f"disk full at {n}")

    def ether_on_error(self, message: dict[str, Any], exc: BaseException) -> None:
        ether.publish("handled", by="ether_on_error", message=message, error=f"{type(exc).__name__}: {exc}")


class NoHandler:
    """Neither decorator nor class name a handler: the config's errors: section does."""

    def __init__(self) -> None:
        self.calls = 0

    @ether_sub(topic="config_wide")
    def handle(self, n: int) -> None:
        self.calls += 1
        raise TimeoutError(f"no answer ({self.calls})")


class BadHandlerName:
    @ether_sub(topic="x", on_error="no_such_method")
    def handle(self) -> None:
        pass


class Service:
    class CalibrationError(Exception):
        pass

    @ether_get()
    def calibrate(self, channel: int) -> float:
        raise Service.CalibrationError(f"channel {channel} out of range")

    @ether_get()
    def unsendable(self) -> object:
        return object()
