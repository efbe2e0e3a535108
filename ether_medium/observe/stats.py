"""What an observer knows about each topic: counts and rates from the publishers' sequence numbers,
intervals between consecutive messages, sources, the last message.

Every fabric message carries its publisher's per-topic sequence number (``seq``, from 0) and the host time
it was published at, so two messages of one source, however far apart, give the exact number published in
between: the observer need not see every message to count them or to know their rate.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ether_medium.fabric.envelope import Envelope

__all__ = ["IntervalStats", "SourceTrack", "TopicStats"]

RATE_WINDOW_S = 5.0  # rates are over (about) the last five seconds
MAX_SOURCES = 1000
_MAX_SAMPLES = 256
_MAX_INTERVALS = 2000


@dataclass(slots=True)
class SourceTrack:
    """One publisher of one topic."""

    samples: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=_MAX_SAMPLES))
    base: int = 0  # messages of the publisher's earlier lives (its sequence numbers started again)
    last_seq: int = -1
    last_time: float = 0.0

    def add(self, seq: int, host_time: float) -> float | None:
        """Note a message; the interval to the previous one when it is the next in sequence."""
        interval = None
        if seq < self.last_seq:  # the publisher restarted
            self.base += self.last_seq + 1
            self.samples.clear()
        elif seq == self.last_seq + 1 and self.last_seq >= 0:
            interval = host_time - self.last_time
        if seq != self.last_seq:
            self.samples.append((host_time, seq))
        self.last_seq, self.last_time = seq, host_time
        return interval

    @property
    def count(self) -> int:
        return self.base + self.last_seq + 1

    def rate_hz(self, now: float) -> float:
        """Messages per second over the last :data:`RATE_WINDOW_S` (0 once it has gone quiet)."""
        samples = self.samples
        if len(samples) < 2:
            return 0.0
        t_last, q_last = samples[-1]
        start = 0
        while start < len(samples) - 2 and samples[start][0] < t_last - RATE_WINDOW_S:
            start += 1
        t_first, q_first = samples[start]
        span = t_last - t_first
        if span <= 0:
            return 0.0
        rate = (q_last - q_first) / span
        quiet = now - t_last
        if quiet > max(3.0 / rate if rate > 0 else math.inf, 2.5):  # three intervals missed: it stopped
            return 0.0
        return rate


@dataclass(slots=True)
class IntervalStats:
    """Intervals between consecutive messages (by sequence number), seconds."""

    count: int
    mean_s: float
    min_s: float
    max_s: float
    jitter_s: float  # standard deviation

    def as_dict(self) -> dict[str, float | int]:
        return {"intervals": self.count, "mean_s": self.mean_s, "min_s": self.min_s, "max_s": self.max_s,
                "jitter_s": self.jitter_s}


@dataclass(slots=True)
class TopicStats:
    topic: str
    sources: dict[str, SourceTrack] = field(default_factory=dict)
    seen: int = 0  # messages this observer received (a sample of them, for fast topics)
    last_seen: float = 0.0  # host time of the newest message
    last_data: dict[str, Any] = field(default_factory=dict)
    last_source: str = ""
    device_time: bool = False  # whether its messages carry device time (a board's topic)
    intervals: deque[float] = field(default_factory=lambda: deque(maxlen=_MAX_INTERVALS))

    def add(self, env: Envelope) -> None:
        track = self.sources.get(env.source)
        if track is None:
            if len(self.sources) >= MAX_SOURCES:  # a flood of made-up sources: forget the quietest
                del self.sources[min(self.sources, key=lambda s: self.sources[s].last_time)]
            track = self.sources[env.source] = SourceTrack()
        interval = track.add(env.seq, env.host_time)
        if interval is not None and interval >= 0:
            self.intervals.append(interval)
        self.seen += 1
        if env.host_time >= self.last_seen:
            self.last_seen = env.host_time
            self.last_data = env.data
            self.last_source = env.source
        if env.device_time is not None:
            self.device_time = True

    @property
    def count(self) -> int:
        """Messages published on the topic (by the sources seen), from their sequence numbers."""
        return sum(t.count for t in self.sources.values())

    def rate_hz(self, now: float) -> float:
        return sum(t.rate_hz(now) for t in self.sources.values())

    def interval_stats(self, window: int | None = None) -> IntervalStats | None:
        """Over the last ``window`` intervals (all kept, up to 2000, when ``None``)."""
        values = list(self.intervals)
        if window is not None:
            values = values[-window:]
        if not values:
            return None
        jitter = statistics.pstdev(values) if len(values) > 1 else 0.0
        return IntervalStats(len(values), statistics.fmean(values), min(values), max(values), jitter)

    def fields(self) -> dict[str, str]:
        """Field name -> type name, as seen in the newest message."""
        return {k: type(v).__name__ for k, v in self.last_data.items()}
