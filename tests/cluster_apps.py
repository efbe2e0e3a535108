"""Instances the Ray cluster tests place on nodes (imported by class path in the children)."""

from __future__ import annotations

import os

from ether_medium import ether_pub, ether_sub


class Where:
    """Answers ``ping`` on ``pong`` with where it runs (``ETHER_NODE``, set by the Ray engine)."""

    def __init__(self, label: str) -> None:
        self.label = label

    @ether_sub(topic="ping")
    @ether_pub(topic="pong")
    def ping(self, n: int) -> dict:
        print(f"Where[{self.label}]: ping {n}")
        return {"label": self.label, "node": os.environ.get("ETHER_NODE", ""), "pid": os.getpid(), "n": n}
