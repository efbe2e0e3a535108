"""How far behind the recorder is, from its ``Ether.recorder.progress`` reports: rows received and not yet
committed, divided by the rate it commits at (0 when nothing is pending)."""

from __future__ import annotations

import contextlib
from collections import deque

from ether_medium import topics
from ether_medium.fabric.envelope import Envelope

__all__ = ["RecorderLag"]


class RecorderLag:
    def __init__(self) -> None:
        self.reports: deque[tuple[float, int, int]] = deque(maxlen=20)  # host time, committed, pending

    def add(self, env: Envelope) -> None:
        if env.topic != topics.RECORDER_PROGRESS:
            return
        with contextlib.suppress(KeyError, TypeError, ValueError):  # a report this version cannot read
            self.reports.append((env.host_time, int(env.data["committed"]), int(env.data["pending"])))

    @property
    def last(self) -> tuple[float, int, int] | None:
        return self.reports[-1] if self.reports else None

    def lag_s(self) -> float | None:
        """Seconds the recorder needs to commit what it has received; None before two reports."""
        if not self.reports:
            return None
        t1, c1, pending = self.reports[-1]
        if pending == 0:
            return 0.0
        t0, c0, _ = self.reports[0]
        if t1 <= t0 or c1 <= c0:
            return None
        return pending / ((c1 - c0) / (t1 - t0))
