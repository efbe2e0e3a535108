"""A run's health: what went wrong while it ran, for the summary ``ether run`` prints and the session record.

The launcher's supervisor thread feeds a :class:`HealthLog` with what it sees: ``Ether.health`` reports
(rejected messages per topic, subscriber and reason from instances; failed deliveries and detaches from
bridges, cumulative per process), ``Ether.device`` (a device attached). At shutdown :meth:`HealthLog.summary`
adds the processes' exits (from the launcher's records) and gives a :class:`RunHealth`; once the recorder has
closed the session, :func:`record_health` writes it into the session row (``sessions.health``; a ``normal``
session with problems becomes ``problems``) and reads back what was recorded.

What fails a run (``ether run`` exits 1): a process that crashed and was not running when the run ended, a
configured device that never attached, a recording that failed (the recorder's exit, or its session not
closed ``normal``). Everything else (restarts, detaches, rejected messages, failed deliveries, rows not
recorded) is a problem that the summary and the session name, with exit status 0.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["HealthLog", "RecordedSession", "RunHealth", "RunReport", "record_health"]

_MAX_REPORTS = 10_000  # (name, pid) pairs kept; a hostile publisher inventing names must not grow it forever


@dataclass
class RunHealth:
    """What went wrong in a run (empty lists: nothing)."""

    crashed: list[dict[str, Any]] = field(default_factory=list)  # {name, codes, restarts, for_good}
    shutdown_exits: list[dict[str, Any]] = field(default_factory=list)  # {name, code}: non-zero at shutdown
    devices_never_attached: list[str] = field(default_factory=list)
    devices_detached: list[dict[str, Any]] = field(default_factory=list)  # {name, count, reason}
    rejected: list[dict[str, Any]] = field(default_factory=list)  # {topic, subscriber, reason, count}
    deliveries_failed: dict[str, int] = field(default_factory=dict)  # device -> count
    rows_not_recorded: int = 0
    recording_failed: str | None = None
    processes_lost: list[dict[str, Any]] = field(default_factory=list)  # {name, node, reason}: a cluster's

    @property
    def failed(self) -> bool:
        """A process crashed for good, a device never attached, or the recording failed."""
        return (
            any(c["for_good"] for c in self.crashed)
            or bool(self.devices_never_attached)
            or self.recording_failed is not None
        )

    def problems(self) -> list[str]:
        """One line per problem, most serious first."""
        out = []
        if self.recording_failed is not None:
            out.append(f"recording failed: {self.recording_failed}")
        for c in self.crashed:
            codes = ", ".join(str(code) for code in c["codes"])
            what = "crashed and was not running at the end" if c["for_good"] else "crashed"
            again = f", restarted {c['restarts']} time{'s' * (c['restarts'] != 1)}" if c["restarts"] else ""
            out.append(f"{c['name']} {what} (exit code{'s' * (len(c['codes']) != 1)} {codes}{again})")
        out += [f"device {name} never attached" for name in self.devices_never_attached]
        for d in self.devices_detached:
            out.append(f"device {d['name']} detached {d['count']} time{'s' * (d['count'] != 1)} "
                       f"(last: {d['reason']})")
        for r in self.rejected:
            out.append(f"{r['count']} message{'s' * (r['count'] != 1)} on {r['topic']} rejected by "
                       f"{r['subscriber']}: {r['reason']}")
        for name, n in sorted(self.deliveries_failed.items()):
            out.append(f"{n} deliver{'ies' if n != 1 else 'y'} to device {name} failed")
        if self.rows_not_recorded:
            out.append(f"{self.rows_not_recorded} message{'s' * (self.rows_not_recorded != 1)} not recorded "
                       "(malformed or refused by the database)")
        out += [f"{e['name']} exited with code {e['code']} during shutdown" for e in self.shutdown_exits]
        out += [f"{p['name']} was lost with its cluster node {p['node']} ({p['reason']})"
                for p in self.processes_lost]
        return out

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class HealthLog:
    """What the supervisor thread saw (see the module docstring); thread-safe."""

    def __init__(self, devices: list[str], everyone: bool = True) -> None:
        self.devices = list(devices)
        self.everyone = everyone  # False: only the reports of the processes given to summary()
        self._lock = threading.Lock()
        self._reports: dict[tuple[str, int], dict[str, Any]] = {}
        self._attached: set[str] = set()
        self._lost: list[dict[str, Any]] = []
        self._lost_nodes: set[str] = set()

    def on_report(self, data: dict[str, Any]) -> None:
        """An ``Ether.health`` report (cumulative for its process: the last one of each pid counts)."""
        try:
            key = (str(data["name"]), int(data.get("pid") or 0))
        except (KeyError, TypeError, ValueError):
            return
        with self._lock:
            if key in self._reports or len(self._reports) < _MAX_REPORTS:
                self._reports[key] = data

    def on_lost(self, name: str, node: str, reason: str, node_id: str | None = None) -> None:
        """A process of a cluster engine vanished with its node (or its actor was killed)."""
        with self._lock:
            if len(self._lost) < _MAX_REPORTS:
                self._lost.append({"name": name, "node": node, "reason": reason})
            if node_id:
                self._lost_nodes.add(node_id)

    def lost_nodes(self) -> set[str]:
        """The ids of the nodes :meth:`on_lost` named."""
        with self._lock:
            return set(self._lost_nodes)

    def on_device(self, data: dict[str, Any]) -> None:
        with self._lock:
            name = str(data.get("name", ""))
            if name in self.devices:
                self._attached.add(name)

    def summary(self, exits: list[tuple[str, list[int], int, bool]]) -> RunHealth:
        """``exits``: per process (name, unexpected exit codes, restarts, not running when the run ended),
        from the launcher."""
        health = RunHealth()
        for name, codes, restarts, for_good in exits:
            if codes:
                health.crashed.append(
                    {"name": name, "codes": codes, "restarts": restarts, "for_good": for_good}
                )
        names = {name for name, *_ in exits}
        with self._lock:
            # a machine that joined a session hears the whole session's reports: its own processes count
            reports = [r for r in self._reports.values() if self.everyone or str(r["name"]) in names]
            health.devices_never_attached = [d for d in self.devices if d not in self._attached]
            health.processes_lost = list(self._lost)
        rejected: dict[tuple[str, str, str], int] = {}
        detached: dict[str, dict[str, Any]] = {}
        for report in reports:
            name = str(report["name"])
            for row in report.get("rejected") or []:
                with contextlib.suppress(TypeError, ValueError):
                    topic, subscriber, reason, count = row
                    kind = (str(topic), str(subscriber), str(reason))
                    rejected[kind] = rejected.get(kind, 0) + int(count)
            with contextlib.suppress(TypeError, ValueError):
                failed = int(report.get("deliveries_failed") or 0)
                if failed:
                    health.deliveries_failed[name] = health.deliveries_failed.get(name, 0) + failed
                count = int(report.get("detached") or 0)
                if count:
                    entry = detached.setdefault(name, {"name": name, "count": 0, "reason": None})
                    entry["count"] += count
                    entry["reason"] = report.get("detach_reason")
        health.rejected = [
            {"topic": t, "subscriber": s, "reason": r, "count": n}
            for (t, s, r), n in sorted(rejected.items())
        ]
        health.devices_detached = sorted(detached.values(), key=lambda d: str(d["name"]))
        return health


@dataclass
class RecordedSession:
    """What the recording database says of the run's session once the recorder closed it."""

    path: str
    status: str | None = None
    rows: int = 0
    malformed: int = 0
    note: str | None = None


def record_health(path: str | Path, session_id: str, health: RunHealth) -> RecordedSession:
    """Add what the recorder says to ``health`` (rows not recorded, a recording that failed) and write
    ``health`` into the session row; returns what was recorded. A database that cannot be read is a
    failed recording."""
    from ether_medium.recorder.store import Store

    found = RecordedSession(str(path))
    if not Path(path).is_file():
        health.recording_failed = f"no recording database at {path}"
        return found
    try:
        store = Store(path)
        try:
            info = next((s for s in store.sessions() if s.id == session_id), None)
            if info is None:
                health.recording_failed = f"session {session_id} is not in {path}"
                return found
            found.status, found.rows, found.malformed, found.note = (
                info.status, info.messages, info.malformed, info.note)
            health.rows_not_recorded = info.malformed
            if info.status not in ("normal", "problems"):
                health.recording_failed = f"the session was closed {info.status}" + (
                    f": {info.note}" if info.note else "")
            found.status = store.set_health(session_id, health.as_dict(), bool(health.problems()))
        finally:
            store.close()
    except Exception as exc:  # sqlite3.Error, OSError: the database itself is failing
        health.recording_failed = f"cannot read or update {path}: {exc}"
    return found


@dataclass
class RunReport:
    """The end of a run: what ``ether run`` prints (at every log level) and how it exits."""

    session_id: str
    duration_s: float
    health: RunHealth
    recorded: RecordedSession | None = None  # None: the run was not recorded here
    unrecorded: str = "not recorded (no recording: section in the config)"  # what to say then

    @property
    def exit_code(self) -> int:
        return 1 if self.health.failed else 0

    def text(self) -> str:
        lines = [f"Ether run summary: session {self.session_id}, {self.duration_s:.1f} s"]
        rec = self.recorded
        if rec is None:
            lines.append(f"  {self.unrecorded}")
        else:
            lines.append(f"  {rec.rows} row{'s' * (rec.rows != 1)} recorded in {rec.path} "
                         f"(session status: {rec.status or 'unknown'})")
        problems = self.health.problems()
        if problems:
            lines.append(f"  {len(problems)} problem{'s' * (len(problems) != 1)}:")
            lines += [f"    {p}" for p in problems]
        else:
            lines.append("  no problems")
        if rec is not None and rec.status is not None:
            lines.append(f"  export: ether export {self.session_id} --db {rec.path}")
        return "\n".join(lines)
