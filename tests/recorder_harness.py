"""Parts the recorder tests share: a broker, a recorder in its own (spawned) process, a publisher.

The publisher is an XPUB socket connected to the broker's XSUB side: it receives the subscriptions the broker
holds, so it can wait until the recorder's subscription has reached it instead of sleeping.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import zmq

from ether_medium.fabric.broker import Broker, BrokerAddresses
from ether_medium.fabric.envelope import Envelope, encode

SPAWN = multiprocessing.get_context("spawn")


@contextlib.contextmanager
def running_broker() -> Iterator[Broker]:
    broker = Broker()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def _as_from_a_terminal() -> None:
    """Ctrl-C as in a process started from a terminal. A test runner started in the background by a
    non-interactive shell (a CI script, ``make test &``) has SIGINT ignored, every process it spawns inherits
    that, and the recorder rightly leaves an ignored SIGINT ignored: a test that sends it SIGINT would wait
    for a drain that never begins."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _recorder_main(publish: str, subscribe: str, session_id: str, config: dict[str, Any],
                   wait_for: list[str], ready: Any, cwd: str | None) -> None:
    from ether_medium.config import load_config
    from ether_medium.recorder import run_recorder

    _as_from_a_terminal()

    logging.basicConfig(level=logging.INFO, format="%(asctime)s recorder %(levelname)s %(message)s")
    if cwd is not None:
        os.chdir(cwd)
    summary = run_recorder(BrokerAddresses(publish, subscribe), session_id, load_config(config),
                           wait_for, ready=ready.set)
    raise SystemExit({"normal": 0, "error": 1}.get(summary.status, 2))


def _service_main(publish: str, subscribe: str, session_id: str, config: dict[str, Any],
                  wait_for: list[str], ready: Any, cwd: str | None) -> None:
    """The recorder started the way the launcher starts it: ``service.main(ctx)``."""
    from types import SimpleNamespace

    from ether_medium.config import load_config
    from ether_medium.recorder import service

    _as_from_a_terminal()
    if cwd is not None:
        os.chdir(cwd)
    ctx = SimpleNamespace(addresses=BrokerAddresses(publish, subscribe), session_id=session_id,
                          config=load_config(config), wait_for=wait_for, ready=ready.set)
    raise SystemExit(service.main(ctx))


@contextlib.contextmanager
def recorder_process(addresses: BrokerAddresses, config: dict[str, Any], wait_for: list[str],
                     session_id: str | None = None, cwd: str | None = None,
                     via_service: bool = False) -> Iterator[Any]:
    """A recorder in a spawned process, ready (subscribed) when this yields; stopped by its pid at exit."""
    ready = SPAWN.Event()
    proc = SPAWN.Process(
        target=_service_main if via_service else _recorder_main,
        args=(addresses.publish, addresses.subscribe, session_id or str(uuid.uuid4()), config, wait_for,
              ready, cwd),
        name="ether-recorder-test",
    )
    proc.start()
    try:
        if not ready.wait(30):
            raise AssertionError(f"recorder (pid {proc.pid}) not ready in 30 s, exit code {proc.exitcode}")
        yield proc
    finally:
        if proc.is_alive() and proc.pid is not None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)


class Publisher:
    """Publishes envelopes as process ``name`` would; ``bye()`` is its last message."""

    def __init__(self, addresses: BrokerAddresses, name: str) -> None:
        self.name = name
        self.sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.XPUB)
        self.sock.setsockopt(zmq.LINGER, 2000)
        self.sock.setsockopt(zmq.SNDHWM, 0)
        self.sock.connect(addresses.publish)
        self.seqs: dict[str, int] = {}
        self.subscriptions: set[bytes] = set()

    def wait_for_subscriber(self, topic: str, timeout: float = 10.0) -> None:
        """Block until a subscription whose prefix covers ``topic`` has reached this socket."""
        wanted = topic.encode()
        deadline = time.monotonic() + timeout
        while not any(wanted.startswith(p) for p in self.subscriptions):
            left = deadline - time.monotonic()
            if left <= 0 or not self.sock.poll(int(left * 1000) + 1):
                raise AssertionError(f"no subscriber for {topic!r} reached publisher {self.name}")
            msg = self.sock.recv()
            if msg[:1] == b"\x01":
                self.subscriptions.add(msg[1:])

    def publish(self, topic: str, data: dict[str, Any], **fields: Any) -> None:
        seq = self.seqs.get(topic, 0)
        self.seqs[topic] = seq + 1
        fields.setdefault("host_time", time.time())
        source = fields.pop("source", self.name)
        self.sock.send_multipart(encode(Envelope(topic, data, source, seq, **fields)))

    def send_raw(self, frames: list[bytes]) -> None:
        self.sock.send_multipart(frames)

    def shutdown(self) -> None:
        self.publish("Ether.shutdown", {})

    def bye(self) -> None:
        self.publish("Ether.bye", {"name": self.name})

    def close(self) -> None:
        self.sock.close()


@contextlib.contextmanager
def publisher(addresses: BrokerAddresses, name: str, *topics: str) -> Iterator[Publisher]:
    """A :class:`Publisher` named ``name``, once subscriptions covering each of ``topics`` reached it; closed
    at exit."""
    pub = Publisher(addresses, name)
    try:
        for topic in topics:
            pub.wait_for_subscriber(topic)
        yield pub
    finally:
        pub.close()


def query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Read the recording database with a fresh connection, as another program would."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def wait_exit(proc: Any, timeout: float = 20.0) -> int:
    proc.join(timeout)
    if proc.exitcode is None:
        raise AssertionError(f"recorder (pid {proc.pid}) still running {timeout} s after shutdown")
    return int(proc.exitcode)


def slow_recorder(ctx: Any) -> int:
    """The real recorder service (``ether_medium.recorder.service:main``) made slow (a launcher test's
    ``RECORDER_TARGET``; runs in the recorder process): ``$ETHER_TEST_SLOW`` is ``write`` (a slow disk: the
    writer spends ``$ETHER_TEST_S_PER_ROW`` seconds per row before inserting a batch; the backlog is in the
    writer's queue) or ``receive`` (a slow CPU: the receiving thread spends that long per message; the
    backlog, ``Ether.shutdown`` included, waits in the socket)."""
    from collections.abc import Callable

    from ether_medium.recorder import receiver, service
    from ether_medium.recorder.schema import ROW_WIDTH
    from ether_medium.recorder.writer import BatchWriter

    per_row = float(os.environ["ETHER_TEST_S_PER_ROW"])
    if os.environ["ETHER_TEST_SLOW"] == "write":
        insert = BatchWriter._insert

        def slow_insert(self: BatchWriter, values: list[Any]) -> int:
            time.sleep(per_row * len(values) / ROW_WIDTH)
            return insert(self, values)

        BatchWriter._insert = slow_insert  # type: ignore[method-assign]
    else:
        parser = receiver.row_parser

        def slow_parser() -> Callable[[str, bytes], tuple[Any, ...]]:
            row, count = parser(), [0]

            def slow_row(topic: str, body: bytes) -> tuple[Any, ...]:
                count[0] += 1
                if count[0] % 100 == 0:
                    time.sleep(per_row * 100)
                return row(topic, body)

            return slow_row

        receiver.row_parser = slow_parser  # type: ignore[assignment]
    return service.main(ctx)
