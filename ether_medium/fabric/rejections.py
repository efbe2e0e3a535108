"""Messages a subscriber rejected, folded: the first of each kind in full, then a count every 10 s.

A kind is (topic, subscriber, reason), the reason without the offending values (``MessageRejected.reason``),
so a publisher sending the wrong type at 100 Hz gives one ERROR line with the first message's values and
then one line every :attr:`RejectionLog.interval_s` with the count since the last, not 100 lines a second.
The counts since the process started go on ``Ether.health`` (:data:`~ether_medium.topics.HEALTH`) with
every folded line and when the process ends, for the run's summary and the session's health record.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

from ether_medium.errors import MessageRejected

__all__ = ["RejectionLog"]

Kind = tuple[str, str, str]  # topic, subscriber, reason

MAX_KINDS = 200  # kinds beyond these (reasons naming random extra fields...) are counted as one
OTHER = "other reasons (too many kinds to tell apart)"


class RejectionLog:
    interval_s = 10.0

    def __init__(self, name: str, logger: logging.Logger,
                 publish: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.name = name
        self.log = logger
        self.publish = publish
        self.total: dict[Kind, int] = {}  # since the process started
        self.pending: dict[Kind, int] = {}  # not logged yet
        self.due: float | None = None  # when the pending counts are logged
        self._changed = False

    def rejected(self, topic: str, source: Any, subscriber: str, exc: MessageRejected) -> None:
        kind = (topic, subscriber, exc.reason)
        if kind not in self.total and len(self.total) >= MAX_KINDS:
            kind = (topic, subscriber, OTHER)
        count = self.total.get(kind, 0)
        self.total[kind] = count + 1
        self._changed = True
        if count == 0:
            self.log.error(
                "%s: rejected message on topic %r from %r for %s: %s (more like it are counted and reported "
                "every %.0f s)", self.name, topic, source, subscriber, exc, self.interval_s,
            )
            self._report()  # the first of a kind reaches the run's health at once
            return
        self.pending[kind] = self.pending.get(kind, 0) + 1
        now = time.monotonic()
        if self.due is None:
            self.due = now + self.interval_s
        elif now >= self.due:
            self.tick(now)

    def tick(self, now: float | None = None) -> None:
        """Log the pending counts if their time has come (call it now and then)."""
        if self.due is not None and (time.monotonic() if now is None else now) >= self.due:
            self.flush()

    def flush(self) -> None:
        """Log every pending count now and publish the totals (when anything changed)."""
        for (topic, subscriber, reason), count in sorted(self.pending.items()):
            self.log.error(
                "%s: %d more message%s on topic %r rejected for %s in the last %.0f s: %s (%d in all)",
                self.name, count, "s" * (count != 1), topic, subscriber, self.interval_s, reason,
                self.total[(topic, subscriber, reason)],
            )
        self.pending.clear()
        self.due = None
        self._report()

    def _report(self) -> None:
        if not self._changed or self.publish is None:
            return
        self._changed = False
        rows = [[t, s, r, n] for (t, s, r), n in sorted(self.total.items())]
        self.publish({"name": self.name, "pid": os.getpid(), "rejected": rows})
