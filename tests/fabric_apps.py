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


def fake_recorder(ctx):  # type: ignore[no-untyped-def]
    """A stand-in for ether_medium.recorder.service:main that follows the service contract: subscribe to
    everything, ready, drain until Ether.bye from every name in ctx.wait_for, write what it saw, return."""
    import json

    client = ctx.client
    client.subscribe("")
    ctx.ready()
    waiting = set(ctx.wait_for)
    seen: list[list[str]] = []
    shutdown = False
    deadline = None
    while waiting:
        env = client.recv(0.1)
        if env is None:
            if deadline is not None and time.monotonic() > deadline:
                break
            continue
        seen.append([env.topic, env.source])
        if env.topic == "Ether.shutdown" and not shutdown:
            shutdown = True
            deadline = time.monotonic() + 5.0
        elif env.topic == "Ether.bye" or env.topic == "Ether.exited":
            waiting.discard(env.data["name"])
    with open(ctx.kwargs.get("out") or os.environ["FAKE_RECORDER_OUT"], "w") as fh:
        json.dump(
            {
                "session": ctx.session_id,
                "name": ctx.name,
                "wait_for": ctx.wait_for,
                "seen": seen,
                "left_waiting": sorted(waiting),
                "config_source": ctx.config.source,
            },
            fh,
        )


def echo_service(ctx):  # type: ignore[no-untyped-def]
    client = ctx.client
    client.subscribe("Echo.ping")
    client.subscribe("Ether.shutdown")
    ctx.ready()
    while not ctx.stop.is_set():
        env = client.recv(0.1)
        if env is None:
            continue
        if env.topic == "Ether.shutdown":
            return
        client.publish(
            "Echo.pong",
            {"echo": env.data.get("text"), "service": ctx.name, "greeting": ctx.kwargs.get("greeting")},
        )


class Asker:
    """Asks another instance from inside its own handler (ether.get from an instance process)."""

    @ether_get()
    def ask(self, x: float) -> float:
        from ether_medium import ether

        return ether.get("Calculator.square", timeout=5.0, x=x) + 1


class LifecycleWatcher:
    """Subscribes to a lifecycle topic itself: the framework's handling must still happen."""

    def __init__(self, path: str):
        self.path = path

    @ether_sub(topic="Ether.shutdown")
    def saw_shutdown(self) -> None:
        with open(self.path, "a") as fh:
            fh.write("saw Ether.shutdown\n")

    @ether_shutdown()
    def on_shutdown(self) -> None:
        with open(self.path, "a") as fh:
            fh.write("shutdown handler\n")


class Heater:
    """Hardware that must be made safe at shutdown: its cleanup takes a while, then notes "off"."""

    def __init__(self, path: str, off_s: float = 0.3):
        self.path = path
        self.off_s = off_s

    @ether_cleanup()
    def off(self) -> None:
        time.sleep(self.off_s)
        with open(self.path, "a") as fh:
            fh.write("off\n")


class HungSaver:
    """An instance whose save handler never returns (a stuck driver)."""

    @ether_save()
    def save(self) -> dict:
        time.sleep(3600)
        return {}
