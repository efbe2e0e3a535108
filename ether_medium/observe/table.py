"""Plain-text tables for the observing commands, and a screen that redraws in place (rich when it is
installed, ``pip install 'ether-medium[observe]'``; else ANSI escapes on a terminal, else block by block)."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

__all__ = ["LiveScreen", "ago", "table"]


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell; numbers right-aligned."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(_is_number(row[i]) for row in rows if row[i] not in (None, "")) and bool(rows)
               for i in range(len(headers))]
    lines = []
    for r in cells:
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(r, widths, numeric, strict=True)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _is_number(v: Any) -> bool:
    """A number, or ``-`` standing for one not known yet."""
    return isinstance(v, (int, float)) or (isinstance(v, str) and (v == "-" or v.replace(".", "", 1)
                                                                   .lstrip("-").isdigit()))


def ago(host_time: float, now: float | None = None) -> str:
    if not host_time:
        return "never"
    dt = (time.time() if now is None else now) - host_time
    return f"{dt:.1f} s ago" if dt < 120 else time.strftime("%H:%M:%S", time.localtime(host_time))


class LiveScreen:
    """Show a block of text, replacing the previous one (``ether hz``, ``ether status --watch``)."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self._live: Any = None
        self._lines = 0
        if self.out.isatty():
            try:
                from rich.console import Console
                from rich.live import Live
            except ImportError:
                pass
            else:
                self._live = Live(console=Console(file=self.out), auto_refresh=False)
                self._live.start()

    def show(self, text: str) -> None:
        if self._live is not None:
            from rich.text import Text

            self._live.update(Text(text), refresh=True)
        elif self.out.isatty():
            self.out.write(("\x1b[F\x1b[K" * self._lines) + text + "\n")
            self._lines = text.count("\n") + 1
        else:
            self.out.write(text + "\n\n")
        self.out.flush()

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
