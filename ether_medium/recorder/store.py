"""The recording database: one SQLite file (WAL) per project directory (``ether_data/ether.sqlite``).

Schema
======

``sessions``: one row per run of the recorder (one ``ether.tap`` ... ``ether.shutdown``).

=============== ======= ===============================================================================
column          type    meaning
=============== ======= ===============================================================================
``id``          TEXT    the session id (a UUID, the one the launcher logs as "Starting Ether session")
``started``     REAL    host clock (``time.time()``) when the recorder started
``ended``       REAL    host clock when the recorder closed the session; NULL while running
``status``      TEXT    ``running``, then ``normal``, ``problems``, ``error`` or ``interrupted`` (see below)
``config``      TEXT    JSON: ``{"source": <file or "<dict>">, "config": <the config as given>}``
``versions``    TEXT    JSON: ``ether-medium``, ``python``, ``platform``, ``git_dirty``, and ``devices``:
                        the identity of every device that attached (``Ether.device``: name, device_id,
                        firmware, protocol, boot_id, and ``seen``, the host time it was first announced)
``host``        TEXT    host name
``user``        TEXT    login name of the user who ran it
``git_commit``  TEXT    ``git rev-parse HEAD`` of ``cwd``; NULL outside a git working tree
``cwd``         TEXT    working directory of the recorder
``pid``         INTEGER process id of the recorder (to tell a crashed session from one still running)
``malformed``   INTEGER messages on recorded topics that were not valid envelopes, or that SQLite refused
                        (an integer beyond 64 bits, ...): logged and counted, not stored
``note``        TEXT    why a session ended the way it did (error text, processes that never said bye)
``unwritten``   INTEGER rows received but never written: the database failed (disk full, unwritable) longer
                        than the recorder could hold them in memory (``recording.buffer_rows``), or until
                        the session ended
``restarts``    INTEGER how many times a recorder process died and a new one continued this session
``health``      TEXT    JSON: what went wrong in the run, written by the launcher once the recorder closed
                        the session (:class:`ether_medium.fabric.health.RunHealth`: processes that crashed
                        or restarted with their exit codes, devices that never attached or detached,
                        messages rejected per topic, subscriber and reason, deliveries failed, rows not
                        recorded, a failed recording); NULL when the launcher did not write it
=============== ======= ===============================================================================

Databases made before ``unwritten`` and ``restarts`` existed get them when a recorder opens them.

How a session ends: ``normal`` after ``Ether.shutdown`` (or the launcher's stop) once every process said
``Ether.bye`` or the bye deadline passed (those missing are named in ``note``); ``error`` when the recorder
itself failed (the error is in ``note``); ``problems`` when the session closed ``normal`` but its
``health`` names problems; ``interrupted`` when the recorder was stopped by a signal, or when it died
without closing the session (``kill -9``, power cut): the next recorder that opens the database, and
``ether sessions``, mark every ``running`` session of this host whose process no longer exists as
``interrupted``. Rows committed before such a death are kept (WAL, ``synchronous=NORMAL`` or ``FULL``): with
``NORMAL`` (the default, ``recording.synchronous``) a commit is in the WAL file (OS cache) when it returns,
so a killed process loses nothing committed; an OS crash or power cut may lose the commits since the last
checkpoint (the database stays consistent). ``FULL`` syncs the WAL at every commit (slower on a real disk).

``messages``: one row per recorded envelope (see :mod:`ether_medium.fabric.envelope` for the fields).

======================= ======= =========================================================================
column                  type    meaning
======================= ======= =========================================================================
``session_id``          TEXT    ``sessions.id``
``topic``               TEXT    fabric topic
``source``              TEXT    instance name or device name that published it
``seq``                 INTEGER the publisher's sequence number for the topic
``host_time``           REAL    host clock when the message entered the fabric
``device_time``         REAL    device time mapped to the host clock (device rows only, else NULL)
``device_uncertainty``  REAL    uncertainty of that mapping, seconds (device rows only, else NULL)
``device_seq``          INTEGER the device's own sequence number (device rows only, else NULL)
``payload``             BLOB    the message data, a CBOR map of field name to value
======================= ======= =========================================================================

Index ``messages_by_topic (session_id, topic, host_time)``.
"""

from __future__ import annotations

import contextlib
import fnmatch
import getpass
import json
import os
import platform
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ether_medium.errors import DatabaseError, SessionNotFound
from ether_medium.fabric.process import pid_alive
from ether_medium.version import __version__

__all__ = [
    "DEFAULT_PATH",
    "ROW_WIDTH",
    "MessageRow",
    "SessionInfo",
    "SessionNotFound",
    "Store",
    "host_provenance",
]

DEFAULT_PATH = "ether_data/ether.sqlite"
# The layout of the tables below, as PRAGMA user_version: raised with every change a reader must know of.
# A database of a newer layout is refused (an older Ether must not write rows a newer one misreads).
SCHEMA_VERSION = 3  # 1: the first; 2: sessions.unwritten and sessions.restarts; 3: sessions.health
_ADDED_COLUMNS = (
    ("unwritten", "INTEGER NOT NULL DEFAULT 0"),
    ("restarts", "INTEGER NOT NULL DEFAULT 0"),
    ("health", "TEXT"),
)

MessageRow = tuple[str, str, str, int, float, float | None, float | None, int | None, bytes]
"""(session_id, topic, source, seq, host_time, device_time, device_uncertainty, device_seq, payload)"""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    started REAL NOT NULL,
    ended REAL,
    status TEXT NOT NULL,
    config TEXT NOT NULL,
    versions TEXT NOT NULL,
    host TEXT,
    user TEXT,
    git_commit TEXT,
    cwd TEXT,
    pid INTEGER,
    malformed INTEGER NOT NULL DEFAULT 0,
    note TEXT,
    unwritten INTEGER NOT NULL DEFAULT 0,
    restarts INTEGER NOT NULL DEFAULT 0,
    health TEXT
);
CREATE TABLE IF NOT EXISTS messages (
    session_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    source TEXT NOT NULL,
    seq INTEGER NOT NULL,
    host_time REAL NOT NULL,
    device_time REAL,
    device_uncertainty REAL,
    device_seq INTEGER,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_topic ON messages (session_id, topic, host_time);
"""

ROW_WIDTH = 8
"""Values per row in a flat batch (:meth:`Store.insert_flat`): topic, source, seq, host_time, device_time,
device_uncertainty, device_seq, payload; the session id is the batch's."""

# Rows go in as multi-row INSERTs of these sizes (then one by one), the session id written into the statement
# as a literal: one statement step per chunk instead of one per row is about 1.3x faster than executemany,
# and the GIL is released once per chunk instead of once per row. sqlite3 keeps the statements prepared.
_CHUNK_SIZES = (500, 100, 10, 1)


def _insert_sql(session_id: str, rows: int) -> str:
    literal = "'" + session_id.replace("'", "''") + "'"
    return "INSERT INTO messages VALUES " + ", ".join([f"({literal}, ?, ?, ?, ?, ?, ?, ?, ?)"] * rows)


STATUSES = ("running", "normal", "error", "interrupted", "problems")


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


def _git(cwd: str, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def host_provenance(cwd: str | None = None) -> dict[str, Any]:
    """Who, where and with what this runs: the session's ``versions``, ``host``, ``user``, git, ``cwd``."""
    cwd = os.getcwd() if cwd is None else cwd
    commit = _git(cwd, "rev-parse", "HEAD") or None
    status = _git(cwd, "status", "--porcelain", "--untracked-files=no") if commit else None
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = None
    versions: dict[str, Any] = {
        "ether-medium": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git_dirty": bool(status) if commit else None,
        "devices": [],
    }
    return {"versions": versions, "host": socket.gethostname(), "user": user, "git_commit": commit,
            "cwd": cwd}


class Store:
    """The recording database. One connection; use it from one thread at a time."""

    def __init__(self, path: str | Path, *, synchronous: str = "normal") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
        found = self._db.execute("PRAGMA user_version").fetchone()[0]
        if found > SCHEMA_VERSION:
            self._db.close()
            raise DatabaseError(
                str(self.path),
                f"recorded by a newer Ether (database layout {found}; this version reads up to "
                f"{SCHEMA_VERSION}): upgrade ether-medium, or record to another recording.path",
            )
        self._db.executescript(_SCHEMA)
        if found < SCHEMA_VERSION:  # an older layout gets the columns added since
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(sessions)")}
            for column, kind in _ADDED_COLUMNS:
                if column not in columns:
                    with contextlib.suppress(sqlite3.OperationalError):  # another process added it meanwhile
                        self._db.execute(f"ALTER TABLE sessions ADD COLUMN {column} {kind}")
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
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
        try:
            with open(path, "rb") as fh:
                head = fh.read(16)
            if head != b"SQLite format 3\x00":
                raise DatabaseError(str(path), "not an Ether recording database (not a SQLite file)")
            probe = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
            try:
                found = probe.execute("SELECT name FROM sqlite_master WHERE type='table'")
                tables = {name for (name,) in found}
            finally:
                probe.close()
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseError(str(path), f"cannot be read as an Ether recording database: {exc}") from exc
        if not {"sessions", "messages"} <= tables:
            raise DatabaseError(str(path), "a SQLite database but not an Ether recording (it has no sessions "
                                "and messages tables)")
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
