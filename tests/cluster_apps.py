"""Instances the Ray cluster tests place on nodes (imported by class path in the children)."""

from __future__ import annotations

import os

from ether_medium import ether_cleanup, ether_pub, ether_save, ether_sub


class Where:
    """Answers ``ping`` on ``pong`` with where it runs (``ETHER_NODE``, set by the Ray engine)."""

    def __init__(self, label: str) -> None:
        self.label = label

    @ether_sub(topic="ping")
    @ether_pub(topic="pong")
    def ping(self, n: int) -> dict:
        print(f"Where[{self.label}]: ping {n}")
        return {"label": self.label, "node": os.environ.get("ETHER_NODE", ""), "pid": os.getpid(), "n": n}


class Saver:
    """Counts pings; at shutdown saves the count (``Ether.saved``) and says so in cleanup."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.pings = 0

    @ether_sub(topic="ping")
    def ping(self, n: int) -> None:
        self.pings += 1

    @ether_save()
    def save(self) -> dict:
        return {"label": self.label, "pings": self.pings, "node": os.environ.get("ETHER_NODE", "")}

    @ether_cleanup()
    def cleanup(self) -> None:
        print(f"Saver[{self.label}]: cleanup after {self.pings} pings")
