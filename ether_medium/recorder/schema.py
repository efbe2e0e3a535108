"""The recording database's layout: its tables, what every column means, and the layout's version.

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
import sqlite3
from pathlib import Path

from ether_medium.errors import DatabaseError

__all__ = ["ROW_WIDTH", "SCHEMA_VERSION", "STATUSES", "MessageRow", "check_recording", "connect"]

# The layout of the tables below, as PRAGMA user_version: raised with every change a reader must know of.
# A database of a newer layout is refused (an older Ether must not write rows a newer one misreads).
SCHEMA_VERSION = 3  # 1: the first; 2: sessions.unwritten and sessions.restarts; 3: sessions.health
_ADDED_COLUMNS = (
    ("unwritten", "INTEGER NOT NULL DEFAULT 0"),
    ("restarts", "INTEGER NOT NULL DEFAULT 0"),
    ("health", "TEXT"),
)

STATUSES = ("running", "normal", "error", "interrupted", "problems")

MessageRow = tuple[str, str, str, int, float, float | None, float | None, int | None, bytes]
"""(session_id, topic, source, seq, host_time, device_time, device_uncertainty, device_seq, payload)"""

ROW_WIDTH = 8
"""Values per row in a flat batch (:meth:`~ether_medium.recorder.store.Store.insert_flat`): topic, source,
seq, host_time, device_time, device_uncertainty, device_seq, payload; the session id is the batch's."""

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



def connect(path: Path, synchronous: str = "normal") -> sqlite3.Connection:
    """Open (or create) the database at ``path`` in WAL mode with the tables above. A database of an older
    layout gets the columns added since; one of a newer layout is refused (:class:`DatabaseError`)."""
    db = sqlite3.connect(path, timeout=30.0, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
    found = db.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        db.close()
        raise DatabaseError(
            str(path),
            f"recorded by a newer Ether (database layout {found}; this version reads up to "
            f"{SCHEMA_VERSION}): upgrade ether-medium, or record to another recording.path",
        )
    db.executescript(_SCHEMA)
    if found < SCHEMA_VERSION:  # an older layout gets the columns added since
        columns = {row[1] for row in db.execute("PRAGMA table_info(sessions)")}
        for column, kind in _ADDED_COLUMNS:
            if column not in columns:
                with contextlib.suppress(sqlite3.OperationalError):  # another process added it meanwhile
                    db.execute(f"ALTER TABLE sessions ADD COLUMN {column} {kind}")
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    return db


def check_recording(path: str | Path) -> None:
    """Raise :class:`DatabaseError` unless ``path`` is a SQLite file with an Ether recording's tables (it is
    only read: nothing is written into another file)."""
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
