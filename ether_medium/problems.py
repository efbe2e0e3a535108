"""Log lines for bad input at a bounded rate, so a stream of garbage is reported but never floods the log.

Every boundary that takes bytes from outside (a device link, the fabric's sockets, a recording database)
counts what it cannot use, reports it here and drops it. The first occurrence of each kind of problem is
logged in full; later ones of the same kind within ``interval_s`` are only counted, and the next line says
how many were folded into it ("3 more like this in the last 10.0 s"). :attr:`ProblemLog.counts` counts every
single one regardless.

Kinds are names the caller chooses ("malformed", "describe 3"); at most :data:`MAX_KINDS` are tracked, so
input that invents kinds cannot grow memory: beyond that, new kinds are folded into the kind ``"other"``.
"""

from __future__ import annotations

import logging
import re
import time

__all__ = ["MAX_KINDS", "ProblemLog", "kind_of", "shown"]

MAX_KINDS = 256

_VARIABLE = re.compile(r"'[^']*'|\"[^\"]*\"|\d+|:.*")


def shown(value: object, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters, for a log line about hostile input: never raises (the
    repr of an integer beyond Python's digit limit, or of a deeply nested value, does)."""
    try:
        text = repr(value)
    except Exception:
        return f"(a {type(value).__name__} that cannot be shown)"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def kind_of(message: str) -> str:
    """The kind of a problem described by ``message``: its words without quoted names, numbers and what
    follows the first colon ("body of 'x' is not CBOR: ..." and "body of 'y' is not CBOR: ..." are one
    kind)."""
    return _VARIABLE.sub("", message[:200])[:80]


class ProblemLog:
    def __init__(self, logger: logging.Logger, prefix: str, interval_s: float = 1.0) -> None:
        self.logger = logger
        self.prefix = prefix
        self.interval_s = interval_s
        self.counts: dict[str, int] = {}  # every report of each kind, folded or not
        self.total = 0
        self._last: dict[str, float] = {}
        self._folded: dict[str, int] = {}

    def report(self, kind: str, message: str, level: int = logging.WARNING) -> None:
        if kind not in self.counts and len(self.counts) >= MAX_KINDS:
            kind = "other"
        self.total += 1
        self.counts[kind] = self.counts.get(kind, 0) + 1
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval_s:
            self._folded[kind] = self._folded.get(kind, 0) + 1
            return
        self._last[kind] = now
        folded = self._folded.pop(kind, 0)
        more = f" ({folded} more like this in the last {now - last:.1f} s)" if folded and last else ""
        self.logger.log(level, "%s: %s%s", self.prefix, message, more)

    def flush(self) -> None:
        """Say how many were folded and not yet reported (at shutdown)."""
        for kind, n in sorted(self._folded.items()):
            self.logger.warning("%s: %d more %s problem(s) since the last report", self.prefix, n, kind)
        self._folded.clear()
