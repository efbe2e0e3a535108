"""What a device reports about itself: its LOG lines (into the host's logging, at a bounded rate) and its
ERROR frames (counted and reported, never answered).

A device may send LOG frames as fast as its link carries them; at most :data:`LOG_RATE` a second are passed
on, the rest are counted (``logs_dropped``) and said, folded into one line, when the second is over, when the
device goes quiet (the link manager's timers call :meth:`DeviceReports.flush_logs`) and when the link
closes. An ERROR frame is counted (``device_errors``) and reported through the link's
:class:`~ether_medium.problems.ProblemLog` under a bounded set of kinds, so a device that invents codes
cannot grow memory.
"""

from __future__ import annotations

import logging
from typing import Any

from ether_lite import protocol
from ether_medium.bridge.counters import LinkCounters
from ether_medium.problems import ProblemLog, shown

__all__ = ["LOG_RATE", "DeviceReports"]

LOG_RATE = 20  # device LOG lines passed on per second; beyond: dropped, counted, said once a second

_LEVELS = {10: logging.DEBUG, 20: logging.INFO, 30: logging.WARNING, 40: logging.ERROR, 50: logging.CRITICAL}
_ERROR_NAMES = {
    protocol.ERR_VERSION: "protocol version mismatch",
    protocol.ERR_MALFORMED: "malformed frame",
    protocol.ERR_UNKNOWN_TOPIC: "unknown topic",
    protocol.ERR_BAD_ARGUMENTS: "bad arguments",
    protocol.ERR_OVERSIZE: "oversize",
    protocol.ERR_NOT_READY: "not ready",
    protocol.ERR_INTERNAL: "internal error",
}


class DeviceReports:
    """The LOG and ERROR frames of the device on one link (``name`` in log lines)."""

    def __init__(self, name: str, counters: LinkCounters, problems: ProblemLog, log: logging.Logger) -> None:
        self.name = name
        self.counters = counters
        self.problems = problems
        self.log = log
        self._log_window = -1e9  # the second device LOG lines are counted in
        self._logs_in_window = 0
        self._logs_folded = 0  # LOG lines dropped in this second, said when it ends

    def device_log(self, msg: list[Any], now: float) -> int | None:
        """The logging level of a LOG ``[h, level, text]`` (counted), or None when the device has sent more
        than :data:`LOG_RATE` in the current second: dropped, counted, and said (folded) when the next
        second begins."""
        self.counters.logs += 1
        if now - self._log_window >= 1.0:
            self.flush_logs(now)
            self._log_window, self._logs_in_window = now, 0
        self._logs_in_window += 1
        if self._logs_in_window > LOG_RATE:
            self.counters.logs_dropped += 1
            self._logs_folded += 1
            return None
        level: int = msg[1]
        return _LEVELS.get(level, logging.INFO if level < 30 else logging.ERROR)

    def flush_logs(self, now: float, *, closing: bool = False) -> None:
        """Say how many device LOG lines were dropped (the link manager's timers call this too, so the count
        is said when the device goes quiet, and so does closing)."""
        if self._logs_folded and (closing or now - self._log_window >= 1.0):
            self.log.warning(
                "%s: dropped %d device log line(s) in the last %.1f s (more than %d a second)",
                self.name,
                self._logs_folded,
                max(now - self._log_window, 0.0),
                LOG_RATE,
            )
            self._logs_folded = 0

    def device_error(self, msg: list[Any]) -> None:
        """An ERROR the device sent: counted and logged (never answered)."""
        self.counters.device_errors += 1
        code, text, detail = msg[1], msg[2], msg[3:]
        name = _ERROR_NAMES.get(code, f"code {code}")
        if code == protocol.ERR_VERSION and len(detail) >= 2:
            self.problems.report(
                "device version",
                f"the device says it speaks protocol version {shown(detail[1])} and received version "
                f"{shown(detail[0])}: {text}",
                logging.ERROR,
            )
            return
        self.problems.report(
            f"error {code}" if code in _ERROR_NAMES else "error (other codes)",  # a bounded set of kinds
            f"device reports {name}: {text}{' ' + repr(detail) if detail else ''}",
        )
