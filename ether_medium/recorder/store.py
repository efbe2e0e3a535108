"""The recording database: one SQLite file (WAL) per project directory (``ether_data/ether.sqlite``).

:class:`Store` is one connection to it: it opens and closes session rows (with their provenance,
:mod:`~ether_medium.recorder.provenance`), writes message rows in all-or-none batches, and reads both back.
The tables and what every column means are in :mod:`~ether_medium.recorder.schema`.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import socket
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ether_medium.errors import SessionNotFound
from ether_medium.fabric.process import pid_alive
from ether_medium.recorder.provenance import host_provenance
from ether_medium.recorder.schema import ROW_WIDTH, STATUSES, MessageRow, check_recording, connect

__all__ = [
    "DEFAULT_PATH",
    "SessionInfo",
    "SessionNotFound",
    "Store",
]

DEFAULT_PATH = "ether_data/ether.sqlite"

# Rows go in as multi-row INSERTs of these sizes (then one by one), the session id written into the statement
# as a literal: one statement step per chunk instead of one per row is about 1.3x faster than executemany,
# and the GIL is released once per chunk instead of once per row. sqlite3 keeps the statements prepared.
_CHUNK_SIZES = (500, 100, 10, 1)


def _insert_sql(session_id: str, rows: int) -> str:
    literal = "'" + session_id.replace("'", "''") + "'"
    return "INSERT INTO messages VALUES " + ", ".join([f"({literal}, ?, ?, ?, ?, ?, ?, ?, ?)"] * rows)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: str
    started: float
    ended: float | None
    status: str
    config: dict[str, Any]
    versions: dict[str, Any]
    host: str | None
    user: str | None
    git_commit: str | None
    cwd: str | None
    pid: int | None
    malformed: int
    note: str | None
    messages: int = 0
    topics: int = 0
    unwritten: int = 0
    restarts: int = 0
    health: dict[str, Any] | None = None


class Store:
    """The recording database. One connection; use it from one thread at a time."""

    def __init__(self, path: str | Path, *, synchronous: str = "normal") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = connect(self.path, synchronous)
        self._in_tx = False
        self._statements: dict[str, tuple[tuple[int, str], ...]] = {}

    @classmethod
    def open_existing(cls, path: str | Path) -> Store:
        """Open a database that must already exist (the CLI never creates an empty one by mistake) and be an
        Ether recording (:class:`DatabaseError` otherwise: nothing is written into another file)."""
        if not Path(path).is_file():
            raise SessionNotFound(
                f"no recording database at {path}: run from the project directory, pass --db PATH or "
                "--config CONFIG, or record a session first (a `recording:` section in the config)")
        check_recording(path)
        return cls(path)

    def close(self) -> None:
        if self._in_tx:
            self.commit()
        self._db.close()

    # -- writing ---------------------------------------------------------------------------------------
    def insert(self, rows: Sequence[MessageRow]) -> None:
        """Add rows to the open transaction (started if needed), all or none (an exception says why);
        :meth:`commit` makes them durable."""
        by_session: dict[str, list[Any]] = {}
        for row in rows:
            by_session.setdefault(row[0], []).extend(row[1:])
        with self._all_or_none():
            for session_id, values in by_session.items():
                self._insert_flat(session_id, values)

    def insert_flat(self, session_id: str, values: Sequence[Any]) -> None:
        """Like :meth:`insert` for rows of one session given as one flat sequence, :data:`ROW_WIDTH` values
        per row (the recorder's hot path: no tuple per row)."""
        with self._all_or_none():
            self._insert_flat(session_id, values)

    @contextlib.contextmanager
    def _all_or_none(self) -> Iterator[None]:
        if not self._in_tx:
            self._db.execute("BEGIN")
            self._in_tx = True
        self._db.execute("SAVEPOINT batch")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK TO batch")
            self._db.execute("RELEASE batch")
            raise
        self._db.execute("RELEASE batch")

    def _insert_flat(self, session_id: str, values: Sequence[Any]) -> None:
        if len(values) % ROW_WIDTH:
            raise ValueError(f"a flat batch holds {ROW_WIDTH} values per row, not {len(values)} values")
        statements = self._statements.get(session_id)
        if statements is None:
            statements = self._statements[session_id] = tuple(
                (n * ROW_WIDTH, _insert_sql(session_id, n)) for n in _CHUNK_SIZES)
        execute = self._db.execute
        start, total = 0, len(values)
        for width, sql in statements:
            while total - start >= width:
                execute(sql, values[start:start + width])
                start += width

    def commit(self) -> None:
        if self._in_tx:
            self._db.execute("COMMIT")
            self._in_tx = False

    def rollback(self) -> None:
        """Undo the open transaction (after the database failed in it)."""
        if self._in_tx:
            self._in_tx = False
            self._db.execute("ROLLBACK")

    def mark_interrupted(self) -> list[str]:
        """Close every ``running`` session of this host whose recorder process is gone; return their ids."""
        host = socket.gethostname()
        found = self._db.execute(
            "SELECT id, pid FROM sessions WHERE status = 'running' AND host = ?", (host,)
        ).fetchall()
        gone = [sid for sid, pid in found if pid is None or not pid_alive(int(pid))]
        for sid in gone:
            last = self._db.execute(
                "SELECT max(host_time) FROM messages WHERE session_id = ?", (sid,)
            ).fetchone()[0]
            self._db.execute(
                "UPDATE sessions SET status = 'interrupted', ended = coalesce(?, started),"
                " note = 'the recorder process died without closing the session; end time is the last"
                " committed message' WHERE id = ? AND status = 'running'",
                (last, sid),
            )
        return gone

    def begin_session(self, session_id: str, config: dict[str, Any], *, started: float | None = None,
                      provenance: dict[str, Any] | None = None, pid: int | None = None) -> None:
        """Add the session row (status ``running``) for the recorder process ``pid`` (this one)."""
        prov = host_provenance() if provenance is None else provenance
        self._db.execute(
            "INSERT INTO sessions (id, started, status, config, versions, host, user, git_commit, cwd, pid)"
            " VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?)",
            (session_id, time.time() if started is None else started, json.dumps(config, default=str),
             json.dumps(prov["versions"]), prov["host"], prov["user"], prov["git_commit"], prov["cwd"],
             os.getpid() if pid is None else pid),
        )

    def resume_session(self, session_id: str, *, pid: int | None = None) -> int | None:
        """Continue a session whose recorder died (a restarted recorder): mark it ``running`` again for the
        process ``pid`` (this one) and count the restart. Returns the number of restarts so far, or ``None``
        when there is no such session (then :meth:`begin_session`)."""
        row = self._db.execute("SELECT restarts FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            return None
        self._db.execute(
            "UPDATE sessions SET status = 'running', ended = NULL, restarts = restarts + 1, pid = ?"
            " WHERE id = ?",
            (os.getpid() if pid is None else pid, session_id),
        )
        return int(row[0]) + 1

    def add_device(self, session_id: str, identity: dict[str, Any]) -> bool:
        """Add a device identity to the session's ``versions.devices`` unless already there (same
        name, device_id and boot_id); True when added."""
        row = self._db.execute("SELECT versions FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            raise SessionNotFound(f"no session {session_id!r} in {self.path}")
        versions = json.loads(row[0])
        devices: list[dict[str, Any]] = versions.setdefault("devices", [])
        key = ("name", "device_id", "boot_id")
        if any(all(d.get(k) == identity.get(k) for k in key) for d in devices):
            return False
        devices.append(identity)
        self._db.execute("UPDATE sessions SET versions = ? WHERE id = ?",
                         (json.dumps(versions, default=str), session_id))
        return True

    def end_session(self, session_id: str, status: str, *, malformed: int = 0, note: str | None = None,
                    ended: float | None = None, unwritten: int = 0) -> None:
        """Close the session row. ``malformed`` and ``unwritten`` are this recorder process's counts: they
        are added to those of the processes that recorded the session before it (after a restart)."""
        if status not in STATUSES[1:]:
            raise ValueError(f"session status must be one of {STATUSES[1:]}, not {status!r}")
        self.commit()
        self._db.execute(
            "UPDATE sessions SET status = ?, ended = ?, malformed = malformed + ?, unwritten = unwritten + ?,"
            " note = ? WHERE id = ?",
            (status, time.time() if ended is None else ended, malformed, unwritten, note, session_id),
        )

    def set_health(self, session_id: str, health: dict[str, Any], problems: bool) -> str:
        """Write a closed session's health; a ``normal`` session with ``problems`` becomes ``problems``.
        Returns the session's status."""
        self.commit()
        self._db.execute(
            "UPDATE sessions SET health = ?, status = CASE WHEN status = 'normal' AND ? THEN 'problems'"
            " ELSE status END WHERE id = ?",
            (json.dumps(health, default=str), int(problems), session_id),
        )
        row = self._db.execute("SELECT status FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            raise SessionNotFound(f"no session {session_id!r} in {self.path}")
        return str(row[0])

    # -- reading ---------------------------------------------------------------------------------------
    def sessions(self) -> list[SessionInfo]:
        """Every session, oldest first, with its message and topic counts."""
        counts = {
            sid: (n, t)
            for sid, n, t in self._db.execute(
                "SELECT session_id, count(*), count(DISTINCT topic) FROM messages GROUP BY session_id"
            )
        }
        out = []
        for row in self._db.execute(
            "SELECT id, started, ended, status, config, versions, host, user, git_commit, cwd, pid,"
            " malformed, note, unwritten, restarts, health FROM sessions ORDER BY started, rowid"
        ):
            n, t = counts.get(row[0], (0, 0))
            out.append(SessionInfo(
                id=row[0], started=row[1], ended=row[2], status=row[3], config=json.loads(row[4]),
                versions=json.loads(row[5]), host=row[6], user=row[7], git_commit=row[8], cwd=row[9],
                pid=row[10], malformed=row[11], note=row[12], messages=n, topics=t, unwritten=row[13],
                restarts=row[14], health=json.loads(row[15]) if row[15] else None,
            ))
        return out

    def resolve(self, ref: str) -> SessionInfo:
        """The session named by ``ref``: a full id, a unique prefix of one, or ``latest``."""
        sessions = self.sessions()
        if not sessions:
            raise SessionNotFound(f"{self.path} holds no recorded sessions yet")
        if ref == "latest":
            return sessions[-1]
        matches = [s for s in sessions if s.id == ref] or [s for s in sessions if s.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise SessionNotFound(
                f"no session id starts with {ref!r} in {self.path}; `ether sessions` lists them")
        ids = ", ".join(s.id for s in matches[:5])
        raise SessionNotFound(f"{ref!r} matches {len(matches)} sessions ({ids}...); give more characters")

    def topics(self, session_id: str, globs: Iterable[str] | None = None) -> list[str]:
        """Topics recorded in a session, sorted; only those matching one of ``globs`` when given."""
        found = [t for (t,) in self._db.execute(
            "SELECT DISTINCT topic FROM messages WHERE session_id = ? ORDER BY topic", (session_id,))]
        if globs is None:
            return found
        patterns = list(globs)
        return [t for t in found if any(fnmatch.fnmatchcase(t, g) for g in patterns)]

    def messages(self, session_id: str, topics: Sequence[str] | None = None) -> Iterator[MessageRow]:
        """Rows of a session in host-time order, of the given topic names only (all when None)."""
        selected = self.topics(session_id) if topics is None else list(topics)
        if not selected:
            return
        marks = ",".join("?" * len(selected))
        cursor = self._db.execute(
            "SELECT session_id, topic, source, seq, host_time, device_time, device_uncertainty, device_seq,"
            f" payload FROM messages WHERE session_id = ? AND topic IN ({marks}) ORDER BY host_time, rowid",
            (session_id, *selected),
        )
        with contextlib.closing(cursor):
            yield from cursor
