"""A host logger: keeps count of what the thermometer board reports.

Nothing here knows about boards, links or processes: the bridge publishes the thermometer's readings on
``Thermometer.read`` exactly as a decorated Python class would, and this class subscribes to that topic.
"""

import logging
import time

from ether_medium import ether_get, ether_save, ether_sub

log = logging.getLogger(__name__)


class TemperatureLogger:
    def __init__(self) -> None:
        self.readings = 0
        self.last_c: float | None = None
        self.min_c: float | None = None
        self.max_c: float | None = None
        self.last_at: float | None = None  # time.monotonic() of the last reading

    @ether_sub(topic="Thermometer.read")
    def on_reading(self, celsius: float) -> None:
        self.readings += 1
        self.last_at = time.monotonic()
        self.last_c = celsius
        self.min_c = celsius if self.min_c is None else min(self.min_c, celsius)
        self.max_c = celsius if self.max_c is None else max(self.max_c, celsius)

    @ether_get()
    def status(self) -> dict:
        """``ether.get("TemperatureLogger.status")``: what has been seen so far."""
        age_s = None if self.last_at is None else time.monotonic() - self.last_at
        return {"readings": self.readings, "celsius": self.last_c, "min_c": self.min_c,
                "max_c": self.max_c, "age_s": age_s}

    @ether_save()
    def save(self) -> dict:
        log.info("%d readings, %s..%s degC", self.readings, self.min_c, self.max_c)
        return self.status()
