"""The recorder's receiving thread: messages off the SUB socket, sorted by kind, rows to the writer.

What is recorded: every envelope whose topic matches one of ``recording.topics`` (names or globs, matched
with :func:`fnmatch.fnmatchcase`), plus ``Ether.saved`` (what ``ether_save`` handlers return, source = the
instance), ``Ether.log``, ``Ether.exited`` and ``Ether.device`` (a device's identity, also added to the
session's ``versions.devices``). Other lifecycle topics (``Ether.*``) are recorded only when a recording glob
itself starts with ``Ether``.

When it stops (the drain after ``Ether.shutdown`` until every ``Ether.bye``) and what it reports while it
drains (``Ether.recorder.progress``) is told in :mod:`~ether_medium.recorder.recorder`: :meth:`Receiver.run`
returns the session's status and note, and :meth:`Receiver.interrupt` or the death of the process that
started the recorder stops it at once.

The hot path: messages are taken off the socket in a tight non-blocking loop (up to 2000 before each hand-over
to the writer), and a row's payload is the payload's CBOR bytes cut out of the received body (see
:func:`~ether_medium.recorder.rows.row_parser`), not decoded and encoded again; rows travel to the writer as
one flat list per batch.

A message on a recorded topic that is not a valid envelope is counted (``sessions.malformed``) and logged with
its topic and the first bytes; the recorder keeps running.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

import cbor2
import zmq

from ether_medium import topics
from ether_medium.config import RecordingConfig
from ether_medium.errors import ArrayDropped, ArrayError, EnvelopeError
from ether_medium.fabric.envelope import Envelope, decode, encode
from ether_medium.problems import ProblemLog, kind_of
from ether_medium.recorder.rows import TopicSelection, row_parser
from ether_medium.recorder.schema import ROW_WIDTH
from ether_medium.recorder.writer import BatchWriter

__all__ = ["PROGRESS_S", "Flag", "Receiver"]

log = logging.getLogger("ether.recorder")

_IGNORE, _RECORD, _SHUTDOWN, _BYE, _DEVICE, _INVALID, _EXITED, _READY = range(8)
_RECV_BATCH = 2000  # messages taken off the socket before handing a batch to the writer
_POLL_MS = 50
PROGRESS_S = 0.25  # how often a draining recorder reports its progress


class Flag(Protocol):
    def is_set(self) -> bool: ...


class Receiver:
    """The receiving half of one recording session (see the module docstring): construct, then :meth:`run`
    in the thread that owns the SUB socket. Its counts are read once it returns."""

    def __init__(self, session_id: str, rec: RecordingConfig, wait_for: Sequence[str] = ()) -> None:
        self.session_id = session_id
        self.rec = rec
        self.selection = TopicSelection(rec.topics)
        self.wait_for = set(wait_for)
        self.received = 0  # rows handed to the writer
        self.malformed = 0
        self.first_message: float | None = None  # host clock when the first recorded message was received
        self.missing_byes: list[str] = []
        self.problems = ProblemLog(log, "recorder", interval_s=10.0)
        self._interrupted = threading.Event()
        self._stop_requested = threading.Event()
        self._parent = os.getppid()
        self._progress_seq = 0
        self._arrays: Any = None  # the session's array file (recorder/arrays.py), once one arrives

    def interrupt(self) -> None:
        """Stop now (signal handlers may call this)."""
        self._interrupted.set()

    @property
    def stopping(self) -> bool:
        """True once :meth:`request_stop` was called."""
        return self._stop_requested.is_set()

    def request_stop(self) -> None:
        """Begin the drain as ``Ether.shutdown`` does (signal handlers may call this)."""
        self._stop_requested.set()

    def close(self) -> None:
        """Close the session's array file, if arrays arrived."""
        if self._arrays is not None:
            self._arrays.close()

    def report_progress(self, pub: zmq.Socket[bytes], writer: BatchWriter) -> None:
        """Publish ``Ether.recorder.progress`` (the launcher waits while the numbers move)."""
        done = writer.committed + writer.rejected + writer.unwritten
        data = {"name": "recorder", "received": self.received, "committed": writer.committed,
                "pending": max(0, self.received - done)}
        self._progress_seq += 1
        with contextlib.suppress(zmq.ZMQError):
            env = Envelope(topics.RECORDER_PROGRESS, data, "recorder", self._progress_seq, time.time())
            pub.send_multipart(encode(env), zmq.NOBLOCK)

    def run(self, sub: zmq.Socket[bytes], pub: zmq.Socket[bytes], writer: BatchWriter,
            stop_event: Flag | None, early: list[list[bytes]]) -> tuple[str, str | None]:
        """Receive until the drain ends or something stops it; returns the session's status and note.
        ``early`` holds messages that arrived before (recorded first)."""
        kinds: dict[bytes, tuple[int, str]] = {}
        byes: set[str] = set()
        drain_until: float | None = None
        next_progress = 0.0
        busy = False  # something arrived since the last progress report
        session_id = self.session_id
        put = writer.queue.put
        recv = sub.recv
        noblock = int(zmq.NOBLOCK)
        row = row_parser()
        try:  # numpy arrays in payloads go to the session's array file (ether-medium[arrays])
            from ether_medium.recorder.arrays import ArrayFile, storing_rows
        except ImportError:  # without numpy nobody publishes ndarrays: nothing to store
            pass
        else:
            self._arrays = ArrayFile(self.rec.path, session_id)
            row = storing_rows(row, self._arrays)
        dumps = cbor2.dumps
        while True:
            values: list[Any] = []  # the batch's rows, flat (see Store.insert_flat)
            extend = values.extend
            arrived = False  # anything but ignored topics (the recorder's own progress reports among them)
            if early or sub.poll(_POLL_MS):
                for _ in range(_RECV_BATCH):
                    if early:
                        frames = early.pop(0)
                    else:
                        try:
                            frame = recv(noblock, copy=False)
                        except zmq.Again:
                            break
                        head = frame.bytes
                        if frame.more:  # the parts of a message arrive together
                            frame = recv(noblock, copy=False)
                            frames = [head, frame.bytes]
                            while frame.more:
                                frame = recv(noblock, copy=False)
                                frames.append(frame.bytes)
                        else:
                            frames = [head]
                    head = frames[0]
                    known = kinds.get(head)
                    if known is None:
                        if len(kinds) > 10_000:  # a publisher inventing topics must not grow this forever
                            kinds.clear()
                        known = kinds[head] = self._kind(head)
                    kind, topic = known
                    if kind == _IGNORE:
                        continue
                    arrived = True
                    if kind == _RECORD and len(frames) == 2:
                        try:  # the fast path for data
                            extend(row(topic, frames[1]))
                        except Exception as exc:
                            self._malformed(frames, self._reason(frames, exc))
                        continue
                    try:
                        env = decode(frames)
                        if kind in (_RECORD, _DEVICE, _EXITED):
                            extend((env.topic, env.source, env.seq, env.host_time, env.device_time,
                                    env.device_uncertainty, env.device_seq, dumps(env.data)))
                            if kind == _DEVICE:
                                self.received += len(values) // ROW_WIDTH
                                put(values)
                                values = []
                                extend = values.extend
                                put({**env.data, "seen": env.host_time})
                        if kind in (_BYE, _EXITED):
                            byes.add(str(env.data.get("name", env.source)))
                        elif kind == _READY:
                            byes.discard(str(env.data.get("name", env.source)))
                        elif kind == _SHUTDOWN and drain_until is None:
                            drain_until = time.monotonic() + self.rec.bye_timeout_s
                            log.info("Ether.shutdown: draining until Ether.bye from %s",
                                     ", ".join(sorted(self.wait_for)) or "nobody")
                    except Exception as exc:  # EnvelopeError, or values no row can hold (a cyclic payload)
                        self._malformed(frames, self._reason(frames, exc))
                if values:
                    if self.first_message is None:
                        self.first_message = time.time()
                    self.received += len(values) // ROW_WIDTH
                    put(values)
                if drain_until is not None and arrived:  # a backlog: the bye deadline counts from now
                    drain_until = max(drain_until, time.monotonic() + self.rec.bye_timeout_s)
            if writer.error is not None:
                return "error", None
            if self._interrupted.is_set():
                return "interrupted", "stopped by a signal"
            if os.getppid() != self._parent:
                log.error("the process that started the recorder died; closing session %s", session_id)
                return "interrupted", "the process that started the recorder died"
            if drain_until is None and (self._stop_requested.is_set()
                                        or (stop_event is not None and stop_event.is_set())):
                drain_until = time.monotonic() + self.rec.bye_timeout_s
            busy = busy or arrived
            if drain_until is not None or busy:  # (Ether.shutdown may wait behind a backlog in the socket)
                now = time.monotonic()
                if now >= next_progress:
                    self.report_progress(pub, writer)
                    next_progress, busy = now + PROGRESS_S, False
            if drain_until is not None:
                now = time.monotonic()
                missing = self.wait_for - byes
                if not missing:
                    return "normal", None
                if now >= drain_until:
                    self.missing_byes = sorted(missing)
                    names = ", ".join(self.missing_byes)
                    log.warning("no Ether.bye from %s within %.1f s of the last message after shutdown: "
                                "their last messages may be missing from session %s", names,
                                self.rec.bye_timeout_s, session_id)
                    return "normal", f"no Ether.bye from: {names}"

    @staticmethod
    def _reason(frames: list[bytes], exc: Exception) -> str:
        """What is wrong with a message: the envelope format's own words when it has them."""
        if isinstance(exc, ArrayError | ArrayDropped):  # an array the recorder could not store
            return f"message on {frames[0].decode(errors='replace')!r}: {exc}"
        try:
            decode(frames)
        except EnvelopeError as err:
            return str(err)
        topic = frames[0].decode(errors="replace")
        try:
            why = f"{type(exc).__name__}: {exc}"
        except Exception:  # an exception whose text cannot be made
            why = type(exc).__name__
        return f"a value of the message on {topic!r} cannot be recorded ({why})"

    def _kind(self, topic_bytes: bytes) -> tuple[int, str]:
        try:
            topic = topic_bytes.decode()
        except UnicodeDecodeError:
            return _INVALID, ""  # it reached us through one of our subscriptions: decode() reports it
        if topic == topics.SHUTDOWN:
            return _SHUTDOWN, topic
        if topic == topics.BYE:
            return _BYE, topic
        if topic == topics.DEVICE:
            return _DEVICE, topic
        if topic == topics.EXITED:
            return _EXITED, topic
        if topic == topics.READY:
            return _READY, topic
        return (_RECORD if self.selection.records(topic) else _IGNORE), topic

    def _malformed(self, frames: list[bytes], reason: str) -> None:
        self.malformed += 1
        head = b"|".join(f[:24] for f in frames[:3]).hex(" ")
        self.problems.report(kind_of(reason), f"malformed message #{self.malformed} not recorded: "
                             f"{reason} (first bytes: {head}); fix its publisher")
