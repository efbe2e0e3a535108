"""The decorated subscriber bench/bridge.py runs as a fabric instance: it counts device readings."""

from __future__ import annotations

import json
import os
import time

from ether_medium import ether_sub


class IngestSubscriber:
    """Counts readings per topic; after each ``count`` of one appends {topic, count, seconds} to ``out``."""

    def __init__(self, count: int, out: str) -> None:
        self.count = count
        self.out = out
        self.seen: dict[str, int] = {}
        self.first_ns: dict[str, int] = {}

    def _one(self, topic: str) -> None:
        now = time.perf_counter_ns()
        seen = self.seen.get(topic, 0)
        if seen == 0:
            self.first_ns[topic] = now
        seen += 1
        if seen == self.count:
            with open(self.out, "a") as fh:
                fh.write(
                    json.dumps(
                        {
                            "topic": topic,
                            "count": seen,
                            "seconds": (now - self.first_ns[topic]) / 1e9,
                            "pid": os.getpid(),
                        }
                    )
                    + "\n"
                )
            seen = 0
        self.seen[topic] = seen

    @ether_sub(topic="Bench.read")
    def on_read(self, celsius: float) -> None:
        self._one("Bench.read")

    @ether_sub(topic="Bench.replayed")
    def on_replayed(self, celsius: float) -> None:
        self._one("Bench.replayed")
