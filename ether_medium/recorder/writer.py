"""The recorder's writer thread: owns the database while recording, inserts batches, commits by size or age.

The receiving thread puts items on :attr:`BatchWriter.queue`: a list of rows of the session, flat,
:data:`~ether_medium.recorder.schema.ROW_WIDTH` values per row (inserted as one all-or-none batch), a dict
(a device identity for the session's ``versions.devices``), or ``None`` (commit and stop).
It commits when ``batch_rows`` rows are pending or the oldest pending row is ``flush_interval_ms`` old.
A row that SQLite refuses (an integer beyond 64 bits, ...) is counted in :attr:`rejected` and logged, the
rest of its batch is written.

When the database itself fails (disk full, a file that became read-only or vanished, an I/O error), the
failure is logged with the path and SQLite's reason, and the writer keeps every row not yet committed in
memory, with the rows that arrive meanwhile, up to ``recording.buffer_rows`` (beyond that the oldest are
dropped and counted in :attr:`unwritten`); it tries again after 0.5 s, then after twice as long each time, up
to 30 s. When an attempt succeeds it says how long writing failed and how many rows could not be kept. At the
end (``None``) it tries once more; rows it still cannot write are counted in :attr:`unwritten` and
:attr:`error` is set. The session row records ``unwritten``.
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
from ether_medium.recorder.schema import ROW_WIDTH
from ether_medium.recorder.store import Store

__all__ = ["BatchWriter"]

log = logging.getLogger("ether.recorder")

# errors that concern one row, not the database: that row is refused, the others are written
_ROW_ERRORS = (OverflowError, ValueError, TypeError, RecursionError, sqlite3.ProgrammingError,
               sqlite3.InterfaceError)
_RETRY_FIRST_S = 0.5
_RETRY_MAX_S = 30.0


class BatchWriter(threading.Thread):
    """Owns the database while recording: inserts batches, commits by size or age, outlasts a failing disk."""

    def __init__(self, store: Store, session_id: str, rec: RecordingConfig) -> None:
        super().__init__(name="ether-recorder-writer", daemon=True)
        self.store = store
        self.session_id = session_id
        self.batch_rows = rec.batch_rows
        self.flush_s = rec.flush_interval_ms / 1000.0
        self.buffer_rows = rec.buffer_rows
        self.queue: queue.SimpleQueue[list[Any] | dict[str, Any] | None] = queue.SimpleQueue()
        self.error: BaseException | None = None  # set when rows could not be written by the end
        self.committed = 0
        self.unwritten = 0
        self.rejected = 0
        self.last_commit: float | None = None
        self.failing: str | None = None  # why the database fails, while it does
        self.problems = ProblemLog(log, "recorder", interval_s=10.0)
        self._held: list[Any] = []  # flat rows not committed yet (in the open transaction, or waiting)
        self._devices: list[dict[str, Any]] = []  # identities waiting for a database that works again
        self._failed_at = 0.0
        self._retry_at = 0.0
        self._retry_s = _RETRY_FIRST_S

    @property
    def lost(self) -> int:
        """Rows received and not written (:attr:`unwritten`)."""
        return self.unwritten

    @property
    def pending(self) -> int:
        """Rows received and not committed yet."""
        return len(self._held) // ROW_WIDTH

    def run(self) -> None:
        oldest = 0.0
        carried: list[Any] | dict[str, Any] | None = []  # an item taken while merging; [] for none
        most = self.batch_rows * ROW_WIDTH
        while True:
            if carried != []:
                item, carried = carried, []
            else:
                if self.failing is not None:
                    timeout: float | None = max(0.0, self._retry_at - time.monotonic())
                else:
                    timeout = max(0.0, oldest + self.flush_s - time.monotonic()) if self._held else None
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
            if isinstance(item, dict):
                self._devices.append(item)
            elif item:
                if not self._held:
                    oldest = time.monotonic()
                if self.failing is None:
                    self._write(item)
                else:
                    self._hold(item)
            if self.failing is not None:
                if item is None or time.monotonic() >= self._retry_at:
                    self._retry()
            elif self._devices:
                self._add_devices()
            if self.failing is None and self._held and (
                    item is None or len(self._held) >= most or time.monotonic() - oldest >= self.flush_s):
                self._commit()
            if item is None:
                if self.failing is not None:
                    self._give_up()
                return

    # -- writing ---------------------------------------------------------------------------------------
    def _write(self, values: list[Any]) -> None:
        try:
            self._held.extend(self._insert(values))
        except Exception as exc:  # the database, not a row: keep the rows, try again later
            self._fail(exc, values)

    def _insert(self, values: list[Any]) -> list[Any]:
        """Insert a flat batch; when a row is one SQLite cannot hold (an integer beyond 64 bits, ...), insert
        the rows one by one and count and log those it refuses. Returns the values inserted."""
        try:
            self.store.insert_flat(self.session_id, values)
            return values
        except _ROW_ERRORS:
            pass
        inserted: list[Any] = []
        for k in range(0, len(values), ROW_WIDTH):
            row = values[k:k + ROW_WIDTH]
            try:
                self.store.insert_flat(self.session_id, row)
                inserted.extend(row)
            except _ROW_ERRORS as exc:
                self.rejected += 1
                self.problems.report(f"refused {type(exc).__name__}", f"message #{self.rejected} refused by "
                                     f"the database, not recorded: topic {row[0]!r}, source {shown(row[1])}, "
                                     f"seq {shown(row[2], 80)}: {exc}")
        return inserted

    def _commit(self) -> None:
        try:
            self.store.commit()
        except Exception as exc:
            self._fail(exc)
            return
        self.committed += len(self._held) // ROW_WIDTH
        self._held = []
        self.last_commit = time.time()

    def _add_devices(self) -> None:
        while self._devices:
            identity = self._devices[0]
            try:
                added = self.store.add_device(self.session_id, identity)
            except _ROW_ERRORS as exc:  # values JSON cannot hold: not a reason to stop recording
                self.rejected += 1
                log.warning("a device identity on Ether.device cannot be stored in the session row: %s", exc)
                added = False
            except Exception as exc:
                self._fail(exc)
                return
            self._devices.pop(0)
            if added:
                log.info("device %s (%s, firmware %s) attached", identity.get("name"),
                         identity.get("device_id"), identity.get("firmware"))

    # -- a failing database ----------------------------------------------------------------------------
    def _fail(self, exc: BaseException, values: list[Any] | None = None) -> None:
        """The database failed: undo the open transaction, keep its rows (and ``values``) for a retry."""
        with contextlib.suppress(Exception):
            self.store.rollback()
        if values:
            self._hold(values)
        reason = f"{type(exc).__name__}: {exc}"
        now = time.monotonic()
        if self.failing is None:
            self.failing, self._failed_at, self._retry_s = reason, now, _RETRY_FIRST_S
            log.error("recording to %s failed: %s; holding %d rows in memory (at most %d, "
                      "recording.buffer_rows) and trying again", self.store.path, reason, self.pending,
                      self.buffer_rows)
        else:
            self.failing = reason
            self._retry_s = min(self._retry_s * 2, _RETRY_MAX_S)
            why = (f"recording to {self.store.path} still fails after {now - self._failed_at:.1f} s: "
                   f"{reason}; {self.pending} rows held, {self.unwritten} dropped; next try in "
                   f"{self._retry_s:.1f} s")
            self.problems.report("database failing", why, logging.ERROR)
        self._retry_at = now + self._retry_s

    def _hold(self, values: list[Any]) -> None:
        self._held.extend(values)
        over = len(self._held) // ROW_WIDTH - self.buffer_rows
        if over > 0:
            del self._held[:over * ROW_WIDTH]
            self.unwritten += over

    def _retry(self) -> None:
        held, self._held = self._held, []
        try:
            self._held = self._insert(held)
            self.store.commit()
        except Exception as exc:
            self._held = held
            self._fail(exc)
            return
        self.committed += len(self._held) // ROW_WIDTH
        self._held = []
        self.last_commit = time.time()
        log.warning("recording to %s works again after %.1f s of failing (%s); %d rows could not be kept "
                    "(recording.buffer_rows) and are counted in the session's unwritten", self.store.path,
                    time.monotonic() - self._failed_at, self.failing, self.unwritten)
        self.failing = None
        self._add_devices()

    def _give_up(self) -> None:
        """The end: the rows still held cannot be written."""
        self.unwritten += self.pending
        self._held = []
        self.error = RuntimeError(f"{self.failing} (database {self.store.path})")
        log.error("recording to %s failed until the end (%s): %d rows not written", self.store.path,
                  self.failing, self.unwritten)
