"""An observer's connection to a running fabric that never slows it down.

:class:`Sampler` subscribes to what it is asked to watch (topic names; ``Prefix.`` for a prefix, ``""`` for
everything). A topic that turns out to be fast (more than ``fast_hz`` messages per second, or the fastest
ones when together they exceed ``budget_hz``) is then read only in a short window once per period: the
others keep coming through a set of subscriptions that matches everything but the fast names
(:func:`~ether_medium.observe.subscriptions.all_except`). Counts and rates stay exact (they come from the
publishers' sequence numbers, see :mod:`.stats`); intervals come from the consecutive messages of the
windows. The broker never sends the observer more than about ``budget_hz`` messages a second plus the
windows, which is what bounds its cost to the rig (measured in bench/observe.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import zmq

from ether_medium.errors import EnvelopeError
from ether_medium.fabric.broker import BrokerAddresses
from ether_medium.fabric.client import FabricClient
from ether_medium.fabric.envelope import Envelope, decode
from ether_medium.observe.stats import TopicStats
from ether_medium.observe.subscriptions import all_except

__all__ = ["NOISE", "Sampler", "is_noise", "matches"]

NOISE = ("Ether.probe.", "Ether.reply.", "Ether.status", "Ether.bridge.")  # handshakes, requests, answers
MAX_TOPICS = 10_000  # beyond this, the topic seen least recently is forgotten (and counted)
_TICK_S = 0.1  # how often received counts are checked for a flood


def matches(pattern: str, topic: str) -> bool:
    """Whether ``topic`` is watched by ``pattern`` (exact; ``Prefix.`` a prefix; ``""`` everything)."""
    return pattern == topic or pattern == "" or (pattern.endswith(".") and topic.startswith(pattern))


def is_noise(topic: str) -> bool:
    """Whether ``topic`` carries handshakes, requests or answers (observers' own chatter), not data."""
    return topic.startswith(NOISE)


class Sampler:
    """Watch ``patterns`` of the fabric at ``addresses``: :meth:`start`, then :meth:`poll`, :meth:`close`.

    ``every=True`` turns sampling off: every message of the watched topics is read, whatever its rate
    (``ether monitor --all``)."""

    def __init__(
        self,
        addresses: BrokerAddresses,
        patterns: Sequence[str] = ("",),
        *,
        name: str = "observer",
        fast_hz: float = 500.0,
        budget_hz: float = 3000.0,
        window_s: float = 0.01,
        window_messages: int = 200,
        period_s: float = 1.0,
        every: bool = False,
        context: zmq.Context[Any] | None = None,
    ) -> None:
        self.patterns = list(dict.fromkeys(patterns))
        self.fast_hz = fast_hz
        self.budget_hz = budget_hz
        self.window_s = window_s
        self.window_messages = window_messages
        self.period_s = period_s
        self.every = every
        self.client = FabricClient(addresses, f"{name}.{id(self) & 0xFFFF:x}", context=context)
        self._sock = self.client.socket
        self.stats: dict[str, TopicStats] = {}
        self.fast: set[str] = set()  # topics read only in windows
        self.malformed = 0
        self.received = 0
        self.skipped = 0
        self.forgotten = 0
        self._fast_b: set[bytes] = set()  # self.fast, encoded
        self._subs: set[bytes] = set()
        self._window_until = 0.0  # monotonic end of the open window (0: closed)
        self._window_seen = 0
        self._next_window = 0.0
        self._tick_end = 0.0
        self._tick_counts: dict[str, int] = {}
        self._flood_at = fast_hz * _TICK_S

    # -- subscriptions ---------------------------------------------------------------------------------
    def _wanted(self) -> set[bytes]:
        fast = [f.encode() for f in self.fast]
        out: set[bytes] = set()
        for pattern in self.patterns:
            p = pattern.encode()
            if pattern == "" or pattern.endswith("."):
                out |= all_except(p, fast)
            elif pattern not in self.fast:
                out.add(p)
        if self._window_until:
            out.update(fast)
        return out

    def _resubscribe(self) -> None:
        self._fast_b = {t.encode() for t in self.fast}
        wanted = self._wanted()
        for b in sorted(wanted - self._subs):
            self._sock.setsockopt(zmq.SUBSCRIBE, b)
        for b in sorted(self._subs - wanted):
            self._sock.setsockopt(zmq.UNSUBSCRIBE, b)
        self._subs = wanted

    def start(self, timeout: float = 5.0) -> None:
        """Subscribe and wait until the broker has the subscriptions (raises ``TimeoutError``)."""
        self._resubscribe()
        self.client.handshake(timeout)
        self._next_window = time.monotonic() + self.period_s
        self._tick_end = time.monotonic() + _TICK_S

    def close(self) -> None:
        self.client.close(bye=False)

    # -- receiving -------------------------------------------------------------------------------------
    def watched(self, topic: str) -> bool:
        return any(matches(p, topic) for p in self.patterns)

    def poll(self, timeout: float) -> list[Envelope]:
        """Receive for up to ``timeout`` seconds; the watched messages received (the stats are updated)."""
        out: list[Envelope] = list(e for e in self.client.take_pending() if self._note(e))
        deadline = time.monotonic() + timeout
        sock = self._sock
        while True:
            now = time.monotonic()
            self._schedule(now)
            left = min(deadline, self._next_event(now)) - now
            if sock.poll(max(0, int(left * 1000)) if left > 0 else 0):
                for _ in range(1000):
                    try:
                        frames = sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    if frames[0] in self._fast_b and not self._window_until:
                        self.skipped += 1  # still in flight after its window closed: not even decoded
                        continue
                    try:
                        env = decode(frames)
                    except EnvelopeError:
                        self.malformed += 1
                        continue
                    if self._note(env):
                        out.append(env)
            elif time.monotonic() >= deadline:
                return out
            if time.monotonic() >= deadline:
                return out

    def _note(self, env: Envelope) -> bool:
        topic = env.topic
        if not self.watched(topic):
            return False  # a probe or a topic that only shares a prefix
        self.received += 1
        stats = self.stats.get(topic)
        if stats is None:
            if len(self.stats) >= MAX_TOPICS:  # a publisher inventing topics must not grow this forever
                oldest = min(self.stats.values(), key=lambda s: s.last_seen)
                del self.stats[oldest.topic]
                self.fast.discard(oldest.topic)
                self.forgotten += 1
            stats = self.stats[topic] = TopicStats(topic)
        stats.add(env)
        n = self._tick_counts[topic] = self._tick_counts.get(topic, 0) + 1
        if n > self._flood_at and topic not in self.fast and not self.every:  # a flood: stop at once
            self.fast.add(topic)
            self._resubscribe()
        if self._window_until:
            self._window_seen += 1
        return True

    def _next_event(self, now: float) -> float:
        nxt = min(self._tick_end, self._next_window)
        return min(nxt, self._window_until) if self._window_until else nxt

    def _schedule(self, now: float) -> None:
        if now >= self._tick_end:
            self._check_flood(now)
            self._tick_end = now + _TICK_S
        if self._window_until and (now >= self._window_until or self._window_seen >= self.window_messages):
            self._window_until = 0.0
            self._resubscribe()
        elif not self._window_until and now >= self._next_window:
            self._next_window = now + self.period_s
            if self.fast:
                self._window_until, self._window_seen = now + self.window_s, 0
                self._resubscribe()

    def _check_flood(self, now: float) -> None:
        """Move topics that flood into :attr:`fast`, and those that calmed down out of it."""
        if self.every:
            return
        counts, self._tick_counts = self._tick_counts, {}
        wall = time.time()
        changed = False
        persistent = {t: n for t, n in counts.items() if t not in self.fast}
        for topic, n in persistent.items():
            if n > self.fast_hz * _TICK_S:
                self.fast.add(topic)
                changed = True
        total = sum(n for t, n in persistent.items() if t not in self.fast) / _TICK_S
        for topic in sorted(persistent, key=lambda t: -persistent[t]):
            if total <= self.budget_hz:
                break
            if topic not in self.fast:
                self.fast.add(topic)
                total -= persistent[topic] / _TICK_S
                changed = True
        for topic in list(self.fast):
            if self.stats[topic].rate_hz(wall) < self.fast_hz / 2 and self._calm(topic, wall):
                self.fast.discard(topic)
                changed = True
        if changed:
            self._resubscribe()

    def _calm(self, topic: str, wall: float) -> bool:
        """A fast topic may come back only if all the slow ones together leave room for it."""
        others = sum(s.rate_hz(wall) for t, s in self.stats.items() if t not in self.fast)
        return others + self.stats[topic].rate_hz(wall) < self.budget_hz / 2
