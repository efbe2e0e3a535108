"""``ether sessions [SESSION] [--db PATH]``: the recorded sessions as a table, or one session in full."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict

from ether_medium.errors import SessionNotFound
from ether_medium.recorder.store import DEFAULT_PATH, SessionInfo, Store

HELP = "list recorded sessions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", nargs="?", help="show this session in full: id, unique prefix or 'latest'")
    parser.add_argument("--db", default=DEFAULT_PATH, help=f"recording database (default {DEFAULT_PATH})")


def _duration(s: SessionInfo) -> str:
    seconds = int((s.ended if s.ended is not None else time.time()) - s.started)
    h, rest = divmod(seconds, 3600)
    text = f"{h}:{rest // 60:02d}:{rest % 60:02d}"
    return text if s.ended is not None else f"{text}+"


def table(sessions: list[SessionInfo]) -> str:
    header = ("id", "started", "duration", "status", "messages", "topics")
    rows = [header] + [
        (s.id, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.started)), _duration(s), s.status,
         str(s.messages), str(s.topics))
        for s in sessions
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for r in rows:
        cells = [c.rjust(w) if i >= 4 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    try:
        store = Store.open_existing(args.db)
    except SessionNotFound as exc:
        print(f"ether sessions: {exc}", file=sys.stderr)
        return 1
    try:
        for sid in store.mark_interrupted():
            print(f"note: session {sid} was left running by a recorder that died; marked interrupted",
                  file=sys.stderr)
        if args.session:
            try:
                print(json.dumps(asdict(store.resolve(args.session)), indent=2, default=str))
            except SessionNotFound as exc:
                print(f"ether sessions: {exc}", file=sys.stderr)
                return 1
            return 0
        sessions = store.sessions()
        if not sessions:
            print(f"no sessions recorded in {args.db} yet")
            return 0
        print(table(sessions))
        return 0
    finally:
        store.close()
