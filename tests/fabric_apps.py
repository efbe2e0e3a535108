"""Small decorated classes the fabric tests run as instances (imported by class path in the children)."""

from __future__ import annotations

import os
import time

from pydantic import BaseModel

from ether_medium import (
    ether_cleanup,
    ether_get,
    ether_init,
    ether_pub,
    ether_save,
    ether_shutdown,
    ether_start,
    ether_sub,
)


class Reading(BaseModel):
    temperature: float


class Adder:
    def __init__(self, offset: int = 0):
        self.offset = offset

    @ether_sub()
    @ether_pub(topic="sum")
    def add(self, x: int, y: int = 1) -> dict:
        return {"total": x + y + self.offset}

    @ether_sub(topic="Adder.explode")
    def explode(self, why: str) -> None:
        raise RuntimeError(f"boom: {why}")

    @ether_sub(topic="Adder.bad_return")
    @ether_pub(topic="never")
    def bad_return(self) -> int:
        return 42

    @ether_sub(topic="Adder.bad_model")
    @ether_pub(topic="never")
    def bad_model(self) -> Reading:
        return {"temperature": "hot"}  # type: ignore[return-value]

    @ether_sub(topic="Adder.unencodable")
    @ether_pub(topic="never")
    def unencodable(self) -> dict:
        return {"thing": object()}


class Calculator:
    @ether_get()
    def square(self, x: float, delay_s: float = 0.0) -> float:
        if delay_s:
            time.sleep(delay_s)
        return x * x

    @ether_get()
    def fail(self) -> None:
        raise ValueError("cannot do that")

    @ether_get()
    def pid(self) -> int:
        return os.getpid()


class LifecycleRecorder:
    """Appends each lifecycle phase to a file (one line each) so the test can check order and count."""

    def __init__(self, path: str, slow_cleanup_s: float = 0.0):
        self.path = path
        self.slow_cleanup_s = slow_cleanup_s

    def _note(self, what: str) -> None:
        with open(self.path, "a") as fh:
            fh.write(f"{what}\n")

    @ether_init()
    def on_init(self) -> None:
        self._note("init")

    @ether_start()
    def on_start(self) -> None:
        self._note("start")

    @ether_save()
    def on_save(self) -> dict:
        self._note("save")
        return {"saved_by": os.getpid(), "path": self.path}

    @ether_cleanup()
    def on_cleanup(self) -> None:
        self._note("cleanup")
        time.sleep(self.slow_cleanup_s)

    @ether_shutdown()
    def on_shutdown(self) -> None:
        self._note("shutdown")

    # a user method called "cleanup" must never be shadowed by the framework
    def cleanup(self) -> str:
        return "user cleanup"


class Crasher:
    @ether_sub(topic="Crasher.die")
    def die(self, code: int = 3) -> None:
        os._exit(code)

    @ether_get()
    def ping(self) -> int:
        return os.getpid()


class BrokenConstructor:
    def __init__(self, required: int):
        self.required = required
