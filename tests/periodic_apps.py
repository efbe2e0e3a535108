"""Decorated classes for the periodic-publisher tests (imported by class path in the instance processes)."""

from __future__ import annotations

import time

from ether_medium import ether, ether_pub, ether_save, ether_start, ether_sub


class Ticker:
    """Publishes its call count at 50 Hz; its save handler says how many calls it made."""

    def __init__(self) -> None:
        self.calls = 0

    @ether_pub(topic="tick", every=0.02)
    def tick(self) -> dict:
        self.calls += 1
        return {"n": self.calls}

    @ether_save()
    def saved(self) -> dict:
        return {"ticker_calls": self.calls}


class Sometimes:
    """Every second call has nothing to report: returning None publishes nothing."""

    def __init__(self) -> None:
        self.calls = 0

    @ether_pub(topic="sometimes", every=0.01)
    def read(self) -> dict | None:
        self.calls += 1
        return {"n": self.calls} if self.calls % 2 else None

    @ether_save()
    def saved(self) -> dict:
        return {"sometimes_calls": self.calls}


class Slow:
    """Every 0.05 s; the third call takes 0.23 s (four beats and a bit): those beats are skipped."""

    def __init__(self) -> None:
        self.calls = 0

    @ether_pub(topic="slow", every=0.05)
    def read(self) -> dict:
        self.calls += 1
        if self.calls == 3:
            time.sleep(0.23)
        return {"n": self.calls, "at": time.monotonic()}


class Raiser:
    """A periodic method that raises on every other call keeps its schedule."""

    def __init__(self) -> None:
        self.calls = 0

    @ether_pub(topic="raiser", every=0.02)
    def read(self) -> dict:
        self.calls += 1
        if self.calls % 2 == 0:
            raise ValueError(f"sensor glitch {self.calls}")
        return {"n": self.calls}


class StartAndTick:
    """Both an ether_start handler and a periodic publisher: called once at start, then every 0.05 s."""

    @ether_start()
    @ether_pub(topic="start_and_tick", every=0.05)
    def read(self) -> dict:
        return {"at": time.time()}


class Events:
    """Methods declared ``-> None`` publish an empty message per call (the seed's trigger); a method that
    returns data, or None when it has none, publishes only the data."""

    @ether_sub(topic="poke")
    @ether_pub(topic="poked")
    def poke(self, n: int) -> None:
        return None

    @ether_sub(topic="maybe")
    @ether_pub(topic="maybe_out")
    def maybe(self, n: int) -> dict | None:
        return {"n": n} if n > 0 else None


class Relay:
    """Republishes with ``ether.publish`` from inside its instance process."""

    @ether_sub(topic="relay_in")
    def relay(self, x: int) -> None:
        ether.publish("relay_out", x=x, doubled=2 * x)
        ether.publish("relay_out_dict", {"x": x})


class NeedsArgs:
    @ether_pub(every=0.1)
    def read(self, channel: int) -> dict:
        return {"channel": channel}


class Plain:
    """Undecorated: the test's registry makes ``read`` a periodic publisher."""

    def __init__(self) -> None:
        self.calls = 0

    def read(self) -> dict:
        self.calls += 1
        return {"value": self.calls}
