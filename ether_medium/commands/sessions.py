"""``ether sessions [SESSION] [--db PATH | --config CONFIG] [--json]``: the recorded sessions as a table, or
one session in full (times in ISO 8601 with the local time zone; ``--json`` for the session row as JSON).

The status column is ``normal`` only for a run where nothing went wrong: ``problems`` when its health names
problems (crashes, devices that never attached, rejected messages, ...; ``ether sessions SESSION`` lists
them), ``error`` when the recording failed, ``interrupted`` when it was stopped or died, ``running`` while
it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, fields

from ether_medium.commands import database
from ether_medium.errors import ConfigError, DatabaseError, SessionNotFound
from ether_medium.fabric.health import RunHealth
from ether_medium.recorder.store import SessionInfo

HELP = "list recorded sessions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", nargs="?", help="show this session in full: id, unique prefix or 'latest'")
    parser.add_argument("--json", action="store_true", help="print the session row as JSON (with SESSION)")
    database.add_arguments(parser)


def _duration(s: SessionInfo) -> str:
    seconds = int((s.ended if s.ended is not None else time.time()) - s.started)
    h, rest = divmod(seconds, 3600)
    text = f"{h}:{rest // 60:02d}:{rest % 60:02d}"
    return text if s.ended is not None else f"{text}+"


def table(sessions: list[SessionInfo]) -> str:
    header = ("id", "started", "duration", "status", "messages", "topics")
    rows = [header] + [
        (s.id, database.iso_time(s.started, "seconds"), _duration(s), s.status, str(s.messages),
         str(s.topics))
        for s in sessions
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for r in rows:
        cells = [c.rjust(w) if i >= 4 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def problems_of(s: SessionInfo) -> list[str]:
    """The session's problems, from its health record (as the run summary printed them)."""
    if not s.health:
        return []
    known = {f.name for f in fields(RunHealth)}
    try:
        return RunHealth(**{k: v for k, v in s.health.items() if k in known}).problems()
    except (TypeError, KeyError, ValueError):  # a health record this version cannot read
        return [f"health record: {json.dumps(s.health, default=str)}"]


def detail(s: SessionInfo) -> str:
    versions = dict(s.versions)
    devices = versions.pop("devices", []) or []
    git = s.git_commit or "not a git working tree"
    if s.git_commit and versions.get("git_dirty"):
        git += " (with uncommitted changes)"
    versions.pop("git_dirty", None)
    rows = [
        ("session", s.id),
        ("status", s.status),
        ("started", database.iso_time(s.started)),
        ("ended", database.iso_time(s.ended) if s.ended is not None else "still running"),
        ("duration", _duration(s)),
        ("messages", f"{s.messages} on {s.topics} topic{'s' * (s.topics != 1)}"
                     + (f"; {s.malformed} not recorded (malformed)" if s.malformed else "")),
        ("config", str(s.config.get("source", "?"))),
        ("host", f"{s.host} (user {s.user}, recorder PID {s.pid})"),
        ("directory", str(s.cwd)),
        ("git", git),
        ("versions", ", ".join(f"{k} {v}" for k, v in versions.items())),
    ]
    for d in devices:
        rows.append(("device", f"{d.get('name')}: id {d.get('device_id')}, firmware {d.get('firmware')!r}, "
                               f"protocol {d.get('protocol')}, attached {database.iso_time(d.get('seen'))}"))
    if s.note:
        rows.append(("note", s.note))
    problems = problems_of(s)
    if s.health is None:
        rows.append(("problems", "no health record (the run did not end through `ether run`/ether.shutdown)"))
    else:
        rows.append(("problems", "none" if not problems else str(len(problems))))
    width = max(len(k) for k, _ in rows)
    lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
    lines += [f"  {p}" for p in problems]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    try:
        store = database.open_database(args)
    except (SessionNotFound, DatabaseError, ConfigError) as exc:
        print(f"ether sessions: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    try:
        for sid in store.mark_interrupted():
            print(f"note: session {sid} was left running by a recorder that died; marked interrupted",
                  file=sys.stderr)
        if args.session:
            try:
                session = store.resolve(args.session)
            except SessionNotFound as exc:
                print(f"ether sessions: {exc}", file=sys.stderr)
                return 1
            print(json.dumps(asdict(session), indent=2, default=str) if args.json else detail(session))
            return 0
        sessions = store.sessions()
        if not sessions:
            print(f"no sessions recorded in {store.path} yet")
            return 0
        print(table(sessions))
        return 0
    finally:
        store.close()
