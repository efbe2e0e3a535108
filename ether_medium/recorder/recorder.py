"""The recorder: subscribes to the fabric and writes the selected envelopes to the :class:`Store`.

Two threads. The receiving thread (the caller's, :mod:`~ether_medium.recorder.receiver`) reads the SUB socket,
keeps what the recording globs select, turns each envelope into a row and hands rows to the writer in batches
through a queue; the writer thread (:mod:`~ether_medium.recorder.writer`) owns the database and commits every
``batch_rows`` rows or ``flush_interval_ms``, whichever comes first. So a slow disk delays commits, never the
fabric. The receiver's docstring says what is recorded and how a malformed message is counted.

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
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import zmq

from ether_medium import topics
from ether_medium.config import EtherConfig, RecordingConfig
from ether_medium.fabric.broker import BrokerAddresses
from ether_medium.fabric.envelope import Envelope, encode
from ether_medium.recorder.receiver import PROGRESS_S, Flag, Receiver
from ether_medium.recorder.rows import TopicSelection
from ether_medium.recorder.store import Store
from ether_medium.recorder.writer import BatchWriter

__all__ = ["Recorder", "RecordingSummary", "TopicSelection", "run_recorder"]

log = logging.getLogger("ether.recorder")

PROBE_PREFIX = topics.RECORDER_PREFIX + "probe."


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
        self.receiver = Receiver(session_id, self.rec, wait_for)
        self.summary = RecordingSummary(session_id, str(self.rec.path))

    def interrupt(self) -> None:
        """Stop now (signal handlers may call this): commit what was received, close as interrupted."""
        self.receiver.interrupt()

    @property
    def stopping(self) -> bool:
        """True once :meth:`request_stop` was called."""
        return self.receiver.stopping

    def request_stop(self) -> None:
        """Begin the drain as ``Ether.shutdown`` does (signal handlers may call this)."""
        self.receiver.request_stop()

    def _config_as_given(self) -> dict[str, Any]:
        raw = self.config.raw or self.config.model_dump(mode="json")
        return {"source": self.config.source, "config": raw}

    def run(self, ready: Callable[[], None] | None = None,
            stop_event: Flag | None = None) -> RecordingSummary:
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
        receiver = self.receiver
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
            for prefix in receiver.selection.prefixes():
                sub.setsockopt(zmq.SUBSCRIBE, prefix)
            early = self._confirm_subscribed(sub, pub)
            writer.start()
            if ready is not None:
                ready()
            status, note = receiver.run(sub, pub, writer, stop_event, early)
        except Exception as exc:
            status, note = "error", f"{type(exc).__name__}: {exc}"
            log.exception("recorder failed")
        finally:
            sub.close(0)
            receiver.close()
            if writer.is_alive():
                writer.queue.put(None)
                while writer.is_alive():  # the backlog is being committed: say so while it lasts
                    receiver.report_progress(pub, writer)
                    writer.join(PROGRESS_S)
            receiver.report_progress(pub, writer)
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
            self.summary.malformed = receiver.malformed + writer.rejected
            self.summary.first_message = receiver.first_message
            self.summary.missing_byes = receiver.missing_byes
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


def run_recorder(addresses: BrokerAddresses, session_id: str, config: EtherConfig,
                 wait_for: Sequence[str] = (), ready: Callable[[], None] | None = None,
                 stop_event: Flag | None = None) -> RecordingSummary:
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
