"""Instances the observing tests run (``ether topics``, ``hz``, ``monitor``, ``pub``, ``status``, metrics)."""

from __future__ import annotations

import threading
import time
from typing import TypedDict

from ether_medium import ether_pub, ether_start, ether_sub


class Ticker:
    """Publishes ``Ticker.tick`` ``{n, value}`` at ``rate_hz`` from ``ether.start`` on."""

    def __init__(self, rate_hz: float = 50.0) -> None:
        self.period_s = 1.0 / rate_hz
        self.n = 0

    @ether_start()
    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        next_at = time.monotonic()
        while True:
            self.tick()
            next_at += self.period_s
            time.sleep(max(0.0, next_at - time.monotonic()))

    @ether_pub()
    def tick(self) -> dict:
        self.n += 1
        return {"n": self.n, "value": self.n * 0.5}


class Listener:
    """Subscribes ``Ticker.tick``; refuses messages without an int ``n``."""

    def __init__(self) -> None:
        self.seen = 0

    @ether_sub(topic="Ticker.tick")
    def on_tick(self, n: int, value: float = 0.0) -> None:
        self.seen += 1


class Flood:
    """On ``Flood.go`` ``{seconds}``, publishes ``Flood.data`` as fast as it can for that long."""

    @ether_sub(topic="Flood.go")
    def go(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            self.data(i)
            i += 1

    @ether_pub(topic="Flood.data")
    def data(self, i: int) -> dict:
        return {"i": i}


class Sample(TypedDict):
    label: str
    value: float


class Source:
    """Publishes ``Source.sample`` as a :class:`Sample` (its return annotation declares the fields)."""

    @ether_pub()
    def sample(self) -> Sample:
        return {"label": "a", "value": 1.0}

    @ether_pub(topic="Source.unheard")
    def unheard(self) -> dict:
        return {}


class Mismatched:
    """Subscribes to topics whose publishers send other fields (for the wiring checks)."""

    @ether_sub(topic="Source.sample")
    def on_sample(self, label: int, value: float) -> None: ...

    @ether_sub(topic="Thermometer.read")
    def on_reading(self, kelvin: float) -> None: ...

    @ether_sub(topic="Nobody.sends")
    def on_nothing(self, x: int) -> None: ...
