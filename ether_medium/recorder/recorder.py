"""The recorder: subscribes to the fabric and writes the selected envelopes to the :class:`Store`.

Two threads. The receiving thread (the caller's) reads the SUB socket, keeps what the recording globs
select, turns each envelope into a row and hands rows to the writer in batches through a queue; the writer
thread (:mod:`~ether_medium.recorder.writer`) owns the database and commits every ``batch_rows`` rows or
``flush_interval_ms``, whichever comes first. So a slow disk delays commits, never the fabric.

What is recorded: every envelope whose topic matches one of ``recording.topics`` (names or globs, matched
with :func:`fnmatch.fnmatchcase`), plus ``Ether.saved`` (what ``ether_save`` handlers return, source = the
instance), ``Ether.log``, ``Ether.exited`` and ``Ether.device`` (a device's identity, also added to the
session's ``versions.devices``). Other lifecycle topics (``Ether.*``) are recorded only when a recording glob
itself starts with ``Ether``.

How it stops: on ``Ether.shutdown`` (or when ``stop_event`` is set) it keeps receiving until it has seen
``Ether.bye`` from every name in ``wait_for`` (each process publishes it as the last message on its own
socket, and the broker keeps per-connection order; ``Ether.exited`` from the launcher stands for the bye of
a process that died, and a later ``Ether.ready`` of that name, a restart, cancels it), or until nothing has
arrived for ``bye_timeout_s`` (a backlog is drained however long it takes), then logs the names it never
heard from, commits, closes the session row and returns. SIGINT (Ctrl-C reaches the whole process group)
begins the same drain; a second SIGINT, or SIGTERM, stops it at once: what was received is committed and
the session is closed as ``interrupted``. So does the death of the process that started it.

While it receives and while it drains (from ``Ether.shutdown`` until its last commit) it publishes
``Ether.recorder.progress`` four times a second: ``received`` (rows taken off the socket so far),
``committed`` and ``pending`` (received, not yet committed). The launcher keeps waiting for it at shutdown
while these numbers move (``Ether.shutdown`` itself may reach the recorder behind a backlog in its socket).

The hot path: messages are taken off the socket in a tight non-blocking loop (up to 2000 before each hand-over
to the writer), and a row's payload is the payload's CBOR bytes cut out of the received body (see
:func:`row_parser`), not decoded and encoded again; rows travel to the writer as one flat list per batch.

A message on a recorded topic that is not a valid envelope is counted (``sessions.malformed``) and logged with
its topic and the first bytes; the recorder keeps running.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Protocol

import cbor2
import zmq

from ether_medium import topics
from ether_medium.config import EtherConfig, RecordingConfig
from ether_medium.errors import ArrayDropped, ArrayError, EnvelopeError
from ether_medium.fabric.broker import BrokerAddresses
from ether_medium.fabric.envelope import (
    Envelope,
    decode,
    encode,
)
from ether_medium.problems import ProblemLog, kind_of
from ether_medium.recorder.schema import ROW_WIDTH
from ether_medium.recorder.store import Store
from ether_medium.recorder.writer import BatchWriter

__all__ = ["Recorder", "RecordingSummary", "TopicSelection", "run_recorder"]

from ether_medium.recorder.rows import TopicSelection, row_parser

log = logging.getLogger("ether.recorder")

PROBE_PREFIX = topics.RECORDER_PREFIX + "probe."

_IGNORE, _RECORD, _SHUTDOWN, _BYE, _DEVICE, _INVALID, _EXITED, _READY = range(8)
_RECV_BATCH = 2000  # messages taken off the socket before handing a batch to the writer
_POLL_MS = 50
_PROGRESS_S = 0.25  # how often a draining recorder reports its progress
_INF = float("inf")


class _Flag(Protocol):
    def is_set(self) -> bool: ...


@dataclass(slots=True)
class RecordingSummary:
    """What a recorder run did; also what the session row says."""

    session_id: str
    path: str
    status: str = "running"
    rows: int = 0
    malformed: int = 0
    unwritten: int = 0  # received, never written: the database failed (see writer.py)
    restarts: int = 0  # recorder processes that died before this one, in this session
    missing_byes: list[str] = field(default_factory=list)
    first_message: float | None = None  # host clock when the first recorded message was received
    last_commit: float | None = None  # host clock of the last commit
    note: str | None = None


class Recorder:
    """One recording session: construct, then :meth:`run` (blocks until the fabric shuts down)."""

    def __init__(self, addresses: BrokerAddresses, session_id: str, config: EtherConfig,
                 wait_for: Sequence[str] = ()) -> None:
        self.addresses = addresses
        self.session_id = session_id
        self.config = config
        self.rec = config.recording if config.recording is not None else RecordingConfig.model_validate({})
        self.selection = TopicSelection(self.rec.topics)
        self.wait_for = set(wait_for)
        self._interrupted = threading.Event()
        self._stop_requested = threading.Event()
        self._parent = os.getppid()
        self._received = 0  # rows handed to the writer
        self._progress_seq = 0
        self.summary = RecordingSummary(session_id, str(self.rec.path))
        self.problems = ProblemLog(log, "recorder", interval_s=10.0)
        self._arrays: Any = None  # the session's array file (recorder/arrays.py), once one arrives

    def interrupt(self) -> None:
        """Stop now (signal handlers may call this): commit what was received, close as interrupted."""
        self._interrupted.set()

    @property
    def stopping(self) -> bool:
        """True once :meth:`request_stop` was called."""
        return self._stop_requested.is_set()

    def request_stop(self) -> None:
        """Begin the drain as ``Ether.shutdown`` does (signal handlers may call this)."""
        self._stop_requested.set()

    def _config_as_given(self) -> dict[str, Any]:
        raw = self.config.raw or self.config.model_dump(mode="json")
        return {"source": self.config.source, "config": raw}

    def run(self, ready: Callable[[], None] | None = None,
            stop_event: _Flag | None = None) -> RecordingSummary:
        store = Store(self.rec.path, synchronous=self.rec.synchronous)
        restarts = store.resume_session(self.session_id)  # a recorder restarted after its predecessor died
        for sid in store.mark_interrupted():
            log.warning("session %s was left running by a recorder that died; marked interrupted", sid)
        if restarts is None:
            store.begin_session(self.session_id, self._config_as_given())
        else:
            self.summary.restarts = restarts
            log.warning("recorder restarted (restart %d of this session): continuing session %s in %s; what "
                        "was published while no recorder ran is not recorded", restarts, self.session_id,
                        store.path)
        log.info("recording session %s to %s (topics %s)", self.session_id, store.path,
                 ", ".join(self.rec.topics))
        writer = BatchWriter(store, self.session_id, self.rec)
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        sub = ctx.socket(zmq.SUB)
        pub = ctx.socket(zmq.PUB)
        status, note = "error", None
        try:
            for sock in (sub, pub):
                sock.setsockopt(zmq.LINGER, 0)
            sub.setsockopt(zmq.RCVHWM, 0)
            pub.setsockopt(zmq.LINGER, 1000)  # the last progress report leaves before the process exits
            for sock in (sub, pub):
                self.addresses.secure(sock)  # CURVE keys, when it reaches the broker over TCP (cluster)
            sub.connect(self.addresses.subscribe)
            pub.connect(self.addresses.publish)
            for prefix in self.selection.prefixes():
                sub.setsockopt(zmq.SUBSCRIBE, prefix)
            early = self._confirm_subscribed(sub, pub)
            writer.start()
            if ready is not None:
                ready()
            status, note = self._receive(sub, pub, writer, stop_event, early)
        except Exception as exc:
            status, note = "error", f"{type(exc).__name__}: {exc}"
            log.exception("recorder failed")
        finally:
            sub.close(0)
            if self._arrays is not None:
                self._arrays.close()
            if writer.is_alive():
                writer.queue.put(None)
                while writer.is_alive():  # the backlog is being committed: say so while it lasts
                    self._report_progress(pub, writer)
                    writer.join(_PROGRESS_S)
            self._report_progress(pub, writer)
            pub.close()
            if writer.error is not None:
                status = "error"
                note = (f"writing failed: {writer.error}; {writer.unwritten} rows not written"
                        + (f"; {note}" if note else ""))
            elif writer.unwritten:
                note = (f"{writer.unwritten} rows not written while the database failed (more than "
                        f"recording.buffer_rows held)" + (f"; {note}" if note else ""))
            self.summary.rows = writer.committed
            self.summary.last_commit = writer.last_commit
            self.summary.malformed += writer.rejected
            self.summary.unwritten = writer.unwritten
            self.summary.status, self.summary.note = status, note
            try:
                store.end_session(self.session_id, status, malformed=self.summary.malformed, note=note,
                                  unwritten=writer.unwritten)
                store.close()
            except Exception as exc:  # the database itself is failing: the next start marks it interrupted
                log.error("could not close session %s in %s: %s", self.session_id, store.path, exc)
        log.info("session %s closed (%s): %d messages recorded%s", self.session_id, status,
                 self.summary.rows, f", {self.summary.malformed} malformed" if self.summary.malformed else "")
        return self.summary

    def _report_progress(self, pub: zmq.Socket[bytes], writer: BatchWriter) -> None:
        """Publish ``Ether.recorder.progress`` (the launcher waits while the numbers move)."""
        done = writer.committed + writer.rejected + writer.unwritten
        data = {"name": "recorder", "received": self._received, "committed": writer.committed,
                "pending": max(0, self._received - done)}
        self._progress_seq += 1
        with contextlib.suppress(zmq.ZMQError):
            env = Envelope(topics.RECORDER_PROGRESS, data, "recorder", self._progress_seq, time.time())
            pub.send_multipart(encode(env), zmq.NOBLOCK)

    def _confirm_subscribed(self, sub: zmq.Socket[bytes], pub: zmq.Socket[bytes]) -> list[list[bytes]]:
        """Publish a probe through the broker until it comes back: then the broker holds our subscription,
        and every publisher that connects from now on receives it. Returns the messages that arrived
        meanwhile (they are recorded like any other)."""
        frames_out = encode(Envelope(f"{PROBE_PREFIX}{uuid.uuid4().hex}", {}, "recorder", 0, time.time()))
        probe = frames_out[0]
        early: list[list[bytes]] = []
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            pub.send_multipart(frames_out)  # a valid envelope: other subscribers of Ether.* must not choke
            if sub.poll(20):
                while sub.poll(0):
                    frames = sub.recv_multipart()
                    if frames[0] == probe:
                        return early
                    if not frames[0].startswith(PROBE_PREFIX.encode()):
                        early.append(frames)
        raise RuntimeError(f"no answer from the broker at {self.addresses.subscribe} within 10 s")

    def _receive(self, sub: zmq.Socket[bytes], pub: zmq.Socket[bytes], writer: BatchWriter,
                 stop_event: _Flag | None, early: list[list[bytes]]) -> tuple[str, str | None]:
        kinds: dict[bytes, tuple[int, str]] = {}
        byes: set[str] = set()
        drain_until: float | None = None
        next_progress = 0.0
        busy = False  # something arrived since the last progress report
        summary = self.summary
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
                                self._received += len(values) // ROW_WIDTH
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
                    if summary.first_message is None:
                        summary.first_message = time.time()
                    self._received += len(values) // ROW_WIDTH
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
                    self._report_progress(pub, writer)
                    next_progress, busy = now + _PROGRESS_S, False
            if drain_until is not None:
                now = time.monotonic()
                missing = self.wait_for - byes
                if not missing:
                    return "normal", None
                if now >= drain_until:
                    summary.missing_byes = sorted(missing)
                    names = ", ".join(summary.missing_byes)
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
        self.summary.malformed += 1
        head = b"|".join(f[:24] for f in frames[:3]).hex(" ")
        self.problems.report(kind_of(reason), f"malformed message #{self.summary.malformed} not recorded: "
                             f"{reason} (first bytes: {head}); fix its publisher")


def run_recorder(addresses: BrokerAddresses, session_id: str, config: EtherConfig,
                 wait_for: Sequence[str] = (), ready: Callable[[], None] | None = None,
                 stop_event: _Flag | None = None) -> RecordingSummary:
    """Record until the fabric shuts down (see the module docstring). Called in the recorder process.

    ``ready`` is called once the recorder's subscription is live in the broker; ``stop_event`` (anything with
    ``is_set()``) is a second way to begin the drain besides ``Ether.shutdown``. In the main thread, SIGINT
    begins the drain (a second one stops at once) and SIGTERM ends the session as ``interrupted`` after
    committing what was received; a signal the process ignores (SIG_IGN) stays ignored.
    """
    recorder = Recorder(addresses, session_id, config, wait_for)
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        def _on_signal(signum: int, frame: FrameType | None) -> None:
            if signum == signal.SIGINT and not recorder.stopping:
                log.info("SIGINT: draining (press Ctrl-C again to stop at once)")
                recorder.request_stop()
            else:
                recorder.interrupt()

        for signum in (signal.SIGTERM, signal.SIGINT):
            if signal.getsignal(signum) is not signal.SIG_IGN:  # a launcher that ignores Ctrl-C here has
                previous[signum] = signal.signal(signum, _on_signal)  # its own plan for the shutdown
    try:
        return recorder.run(ready, stop_event)
    finally:
        for signum, handler in previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signum, handler)
