"""The conformance table: one row per check and device, printed at the end of the run.

A test names its check with ``@pytest.mark.hil_check("…")`` and states its figure through the
``hil_figure`` fixture (``hil_figure("20.0 Hz, declared 20 Hz")``); the plugin records the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Row:
    device: str
    check: str
    result: str  # PASS, FAIL, SKIP, XFAIL (a known defect), XPASS (fixed: remove its xfail)
    figure: str


class ConformanceReport:
    def __init__(self) -> None:
        self.rows: list[Row] = []

    def add(self, device: str, check: str, result: str, figure: str) -> None:
        self.rows.append(Row(device, check, result, figure))

    def devices(self) -> list[str]:
        seen: list[str] = []
        for r in self.rows:
            if r.device not in seen:
                seen.append(r.device)
        return seen

    def table(self, device: str) -> list[str]:
        rows = [r for r in self.rows if r.device == device]
        w_check = max([len("check")] + [len(r.check) for r in rows])
        lines = [f"{'check':<{w_check}}  result  figure", f"{'-' * w_check}  ------  {'-' * 40}"]
        lines += [f"{r.check:<{w_check}}  {r.result:<6}  {r.figure}" for r in rows]
        return lines
