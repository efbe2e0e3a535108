"""Periodic publishers in an instance process: the methods decorated ``@ether_pub(every=S)``.

The instance's own loop (:meth:`ether_medium.fabric.dispatch.Dispatcher.loop`) calls them, between
messages, in the same thread as the subscribers, so a user's object is never called from two threads at once.

The schedule is a grid of deadlines fixed when it starts: beat ``k`` of a method is due at ``t0 + k * S``
(``time.monotonic``), whatever the calls before it took, so errors never add up (no sleep-after-work drift).
When a call comes due while the loop is still busy with an earlier one (the method, or a subscriber, took
longer than the period), the beats that passed are skipped, not queued: they are counted as overruns and
logged (the first in full, then at most one line per method every 10 s with how many were folded into it),
and the method runs once, for the latest beat, keeping the grid.

A method that raises is logged with its traceback (folded the same way), counted, and keeps its schedule.
"""

from __future__ import annotations

import logging
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ether_medium.fabric.decorators import EtherMethod
from ether_medium.problems import ProblemLog

__all__ = ["Beat", "Schedule"]

log = logging.getLogger("ether")

FOLD_S = 10.0  # at most one log line per method and kind of problem this often


@dataclass(eq=False)
class Beat:
    """One periodic method: its bound call (which publishes through the ``ether_pub`` wrapper)."""

    meta: EtherMethod
    call: Callable[[], Any]
    period: float
    due: float = math.inf
    calls: int = 0
    overruns: int = 0  # beats skipped because the loop was late for them
    failures: int = 0  # calls that raised


class Schedule:
    def __init__(self, name: str, fold_s: float = FOLD_S) -> None:
        self.name = name
        self.beats: list[Beat] = []
        self.active = False
        self.next_due = math.inf  # the earliest deadline while active
        self._problems = ProblemLog(log, name, fold_s)

    def add(self, meta: EtherMethod, call: Callable[[], Any]) -> None:
        assert meta.every is not None
        self.beats.append(Beat(meta, call, meta.every))

    def start(self, now: float | None = None, skip_first: frozenset[EtherMethod] = frozenset()) -> None:
        """Begin every beat at ``now``: the first call is due at once (one period later for a method in
        ``skip_first``, which an ``ether_start`` handler just called)."""
        if self.active or not self.beats:
            return
        t0 = time.monotonic() if now is None else now
        for beat in self.beats:
            beat.due = t0 + beat.period if beat.meta in skip_first else t0
        self.active = True
        self.next_due = min(b.due for b in self.beats)

    def stop(self) -> None:
        """No more calls; the problems folded since their last log line are logged now."""
        if not self.active:
            return
        self.active = False
        self.next_due = math.inf
        self._problems.flush()
        for beat in self.beats:
            if beat.overruns or beat.failures:
                log.warning(
                    "%s: %s (every %g s): %d calls, %d beats skipped (overruns), %d calls raised",
                    self.name,
                    beat.meta.func.__qualname__,
                    beat.period,
                    beat.calls,
                    beat.overruns,
                    beat.failures,
                )

    def run_due(self) -> float:
        """Call every method whose beat is due; returns the seconds until the next beat (``inf`` when
        stopped). A method that stops the schedule (its call ran a shutdown) ends the round."""
        now = time.monotonic()
        for beat in self.beats:
            if not self.active:
                break
            late = now - beat.due
            if late < 0:
                continue
            if late >= beat.period:
                missed = int(late // beat.period)
                beat.due += missed * beat.period
                beat.overruns += missed
                self._problems.report(
                    f"{beat.meta.func.__qualname__} overrun",
                    f"{beat.meta.func.__qualname__} (every {beat.period:g} s) is {late * 1000:.1f} ms late: "
                    f"{missed} beat(s) skipped, not queued (the method or a subscriber of this instance "
                    f"takes longer than the period; {beat.overruns} skipped so far)",
                )
            beat.due += beat.period
            beat.calls += 1
            try:
                beat.call()
            except Exception:
                beat.failures += 1
                self._problems.report(
                    f"{beat.meta.func.__qualname__} raising",
                    f"{beat.meta.func.__qualname__} (every {beat.period:g} s) raised; nothing published "
                    f"for this beat:\n{traceback.format_exc().rstrip()}",
                    logging.ERROR,
                )
            now = time.monotonic()
        if not self.active:
            return math.inf
        self.next_due = min(b.due for b in self.beats)
        return self.next_due - now
