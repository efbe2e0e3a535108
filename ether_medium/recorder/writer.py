"""The recorder's writer thread: owns the database while recording, inserts batches, commits by size or age.

The receiving thread puts items on :attr:`BatchWriter.queue`: a list of rows of the session, flat,
:data:`~ether_medium.recorder.store.ROW_WIDTH` values per row (inserted as one all-or-none batch), a dict
(a device identity for the session's ``versions.devices``), or ``None`` (commit and stop).
It commits when ``batch_rows`` rows are pending or the oldest pending row is ``flush_interval_ms`` old.
A row that SQLite refuses (an integer beyond 64 bits, ...) is counted in :attr:`rejected` and logged, the
rest of its batch is written; any other database error stops writing: :attr:`error` is set, what was
inserted before is committed if possible, and every row after that is counted in :attr:`lost`.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
import time
from typing import Any

from ether_medium.config import RecordingConfig
from ether_medium.problems import ProblemLog, shown
from ether_medium.recorder.store import ROW_WIDTH, Store

__all__ = ["BatchWriter"]

log = logging.getLogger("ether.recorder")

# errors that concern one row, not the database: that row is refused, the others are written
_ROW_ERRORS = (OverflowError, ValueError, TypeError, RecursionError, sqlite3.ProgrammingError,
               sqlite3.InterfaceError)


class BatchWriter(threading.Thread):
    """Owns the database while recording: inserts batches, commits by size or age."""

    def __init__(self, store: Store, session_id: str, rec: RecordingConfig) -> None:
        super().__init__(name="ether-recorder-writer", daemon=True)
        self.store = store
        self.session_id = session_id
        self.batch_rows = rec.batch_rows
        self.flush_s = rec.flush_interval_ms / 1000.0
        self.queue: queue.SimpleQueue[list[Any] | dict[str, Any] | None] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self.committed = 0
        self.lost = 0
        self.rejected = 0
        self.last_commit: float | None = None
        self.problems = ProblemLog(log, "recorder", interval_s=10.0)

    def run(self) -> None:
        pending = 0
        oldest = 0.0
        carried: list[Any] | dict[str, Any] | None = []  # an item taken while merging; [] for none
        most = self.batch_rows * ROW_WIDTH
        while True:
            if carried != []:
                item, carried = carried, []
            else:
                timeout = max(0.0, oldest + self.flush_s - time.monotonic()) if pending else None
                try:
                    item = self.queue.get(timeout=timeout)
                except queue.Empty:
                    item = []
                # rows queued meanwhile go in with these: fewer, larger inserts when the writer is behind
                while isinstance(item, list) and len(item) < most:
                    try:
                        more = self.queue.get_nowait()
                    except queue.Empty:
                        break
                    if isinstance(more, list):
                        item.extend(more)
                    else:
                        carried = more
                        break
            if self.error is not None:  # failed before: count what cannot be written, keep draining
                if item is None:
                    return
                self.lost += len(item) // ROW_WIDTH if isinstance(item, list) else 0
                continue
            try:
                if isinstance(item, list):
                    if item:
                        if not pending:
                            oldest = time.monotonic()
                        pending += self._insert(item)
                elif isinstance(item, dict):
                    self._add_device(item)
                if pending and (item is None or pending >= self.batch_rows
                                or time.monotonic() - oldest >= self.flush_s):
                    self._commit(pending)
                    pending = 0
            except Exception as exc:
                self.error = exc
                self.lost += len(item) // ROW_WIDTH if isinstance(item, list) else 0
                log.error("recording to %s failed: %s; rows from now on are counted, not written",
                          self.store.path, exc)
                with contextlib.suppress(Exception):  # keep what was inserted before the failure
                    self._commit(pending)
                    pending = 0
                self.lost += pending
            if item is None:
                return

    def _insert(self, values: list[Any]) -> int:
        """Insert a flat batch; when a row is one SQLite cannot hold (an integer beyond 64 bits, ...), insert
        the rows one by one and count and log those it refuses. Returns the number inserted."""
        try:
            self.store.insert_flat(self.session_id, values)
            return len(values) // ROW_WIDTH
        except _ROW_ERRORS:
            pass
        inserted = 0
        for k in range(0, len(values), ROW_WIDTH):
            row = values[k:k + ROW_WIDTH]
            try:
                self.store.insert_flat(self.session_id, row)
                inserted += 1
            except _ROW_ERRORS as exc:
                self.rejected += 1
                self.problems.report(f"refused {type(exc).__name__}", f"message #{self.rejected} refused by "
                                     f"the database, not recorded: topic {row[0]!r}, source {shown(row[1])}, "
                                     f"seq {shown(row[2], 80)}: {exc}")
        return inserted

    def _add_device(self, identity: dict[str, Any]) -> None:
        """Add a device identity to the session row; one that cannot be stored (values JSON cannot hold) is
        logged and counted in :attr:`rejected`, not a reason to stop recording."""
        try:
            added = self.store.add_device(self.session_id, identity)
        except _ROW_ERRORS as exc:
            self.rejected += 1
            log.warning("a device identity on Ether.device cannot be stored in the session row: %s", exc)
            return
        if added:
            log.info("device %s (%s, firmware %s) attached", identity.get("name"), identity.get("device_id"),
                     identity.get("firmware"))

    def _commit(self, rows: int) -> None:
        if rows:
            self.store.commit()
            self.committed += rows
            self.last_commit = time.time()
