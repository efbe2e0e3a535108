"""One process's connection to the fabric: a PUB socket to the broker's XSUB, a SUB socket to its XPUB.

:class:`FabricClient` is what instance processes, the launcher, the bridge and the recorder use. Every
message goes through :mod:`ether_medium.fabric.envelope`. A client belongs to one thread (ZeroMQ sockets are
not
thread-safe); only :meth:`FabricClient.publish` may be called from other threads too (it takes a lock), so a
log handler can publish from anywhere in the process.

The slow-joiner problem (a subscription needs a moment to reach the publishers through the broker) is solved
by :meth:`FabricClient.handshake`: it publishes probes on a topic only this client subscribes to until one
comes
back. When it returns, every subscription made before it is registered at the broker, and the broker's
subscriptions have reached this client's PUB socket. A child process then calls :meth:`FabricClient.join`:
it waits for the launcher's ``Ether.rollcall`` (proof that the launcher listens, since children may be up
before it) and answers with ``Ether.ready``.

Closing a client with ``bye=True`` publishes ``Ether.bye`` ``{"name": ...}`` as its last message (see
docs/architecture.md, "Shutdown ordering").
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import cbor2
import zmq

from ether_medium import topics
from ether_medium.errors import EnvelopeError, FabricClosedError
from ether_medium.fabric.broker import BrokerAddresses
from ether_medium.fabric.envelope import Envelope, decode, encode, encode_plain, source_prefix

__all__ = ["FabricClient", "FabricClosedError", "process_client", "set_process_client"]

_SNDMORE = int(zmq.SNDMORE)  # a plain int: no enum operation per send
# pyzmq's own send, under its Python wrapper (which only adds RADIO/SERVER options): the publishers' hot path
_backend_send = zmq.backend.Socket.send


class FabricClient:
    """Publish and receive fabric messages as ``name``.

    ``publish(topic, data, **fields)``: ``fields`` are the optional :class:`Envelope` fields
    (``device_time``, ``device_uncertainty``, ``device_seq``, ``reply_to``, ``request_id``, ``error``);
    ``source`` may be overridden (the bridge publishes in its devices' names).
    """

    def __init__(
        self, addresses: BrokerAddresses, name: str, *, context: zmq.Context[Any] | None = None
    ) -> None:
        self.name = name
        self.addresses = addresses
        self._ctx = context if context is not None else zmq.Context.instance()
        self._pub: zmq.Socket[bytes] = self._ctx.socket(zmq.PUB)
        self._sub: zmq.Socket[bytes] = self._ctx.socket(zmq.SUB)
        for sock in (self._pub, self._sub):
            sock.setsockopt(zmq.LINGER, 2000)  # pending messages (Ether.bye) still leave on close
            sock.setsockopt(zmq.SNDHWM, 0)
            sock.setsockopt(zmq.RCVHWM, 0)
            sock.setsockopt(zmq.RECONNECT_IVL, 2)  # a forked child may connect before the broker binds
            sock.setsockopt(zmq.RECONNECT_IVL_MAX, 100)
            addresses.secure(sock)  # CURVE keys of a machine that joined a fabric over TCP
        self._pub.connect(addresses.publish)
        self._sub.connect(addresses.subscribe)
        self._seq: dict[str, int] = {}
        self._prefix = source_prefix(name)
        self._topic_bytes: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._pending: collections.deque[Envelope] = collections.deque()
        self._topics: set[str] = set()
        self.closed = False
        self.orphaned = False  # set when the tap process is gone: close without bye, without lingering
        self.live = False  # True once handshake() succeeded: published messages reach every subscriber
        self.on_live: list[Callable[[], None]] = []

    # -- sending ---------------------------------------------------------------------------------------
    def publish(self, topic: str, data: dict[str, Any], *, source: str | None = None, **fields: Any) -> None:
        """Send ``data`` (a map) on ``topic``. Raises ``TypeError`` if ``data`` cannot be CBOR-encoded."""
        if self.closed:
            raise FabricClosedError(f"fabric client {self.name!r} is closed; cannot publish on {topic!r}")
        with self._lock:
            seq = self._seq.get(topic, 0)
            try:
                if source is None and not fields:
                    frames = [topic.encode(), encode_plain(data, self._prefix, seq, time.time())]
                else:
                    src = self.name if source is None else source
                    frames = encode(Envelope(topic, data, src, seq, time.time(), **fields))
            except cbor2.CBOREncodeError as exc:
                raise TypeError(f"cannot encode the message on {topic!r} as CBOR: {exc}") from exc
            self._seq[topic] = seq + 1
            _backend_send(self._pub, frames[0], _SNDMORE)  # two sends: a third of send_multipart's time
            _backend_send(self._pub, frames[1])

    def publish_data(self, topic: str, data: dict[str, Any]) -> None:
        """:meth:`publish` without optional fields: the hot path of ``ether_pub`` methods."""
        if self.closed:
            raise FabricClosedError(f"fabric client {self.name!r} is closed; cannot publish on {topic!r}")
        topic_b = self._topic_bytes.get(topic)
        if topic_b is None:
            topic_b = self._topic_bytes[topic] = topic.encode()
        with self._lock:
            seq = self._seq.get(topic, 0)
            try:
                body = encode_plain(data, self._prefix, seq, time.time())
            except cbor2.CBOREncodeError as exc:
                raise TypeError(f"cannot encode the message on {topic!r} as CBOR: {exc}") from exc
            self._seq[topic] = seq + 1
            _backend_send(self._pub, topic_b, _SNDMORE)
            _backend_send(self._pub, body)

    def send_frames(self, frames: list[bytes]) -> None:
        """Send already-encoded frames as one message (any number of them: tests send malformed ones)."""
        with self._lock:
            self._pub.send_multipart(frames)

    def send_encoded(self, topic: bytes, body: bytes) -> None:
        """Send one already-encoded message (the bridge's hot path): two ``send`` calls, as
        :meth:`publish_data` does, without ``send_multipart``'s per-call overhead."""
        with self._lock:
            _backend_send(self._pub, topic, _SNDMORE)
            _backend_send(self._pub, body)

    def send_encoded_all(self, frames: list[bytes]) -> None:
        """Send already-encoded messages, ``[topic, body, topic, body, ...]``, back to back (the bridge
        sends the readings of one read from its link so: ZeroMQ's I/O thread is woken once for them)."""
        pub = self._pub
        with self._lock:
            for i in range(0, len(frames), 2):
                _backend_send(pub, frames[i], _SNDMORE)
                _backend_send(pub, frames[i + 1])

    # -- receiving -------------------------------------------------------------------------------------
    def subscribe(self, topic: str) -> None:
        """Receive messages on ``topic`` (exact match; ``""`` receives everything, ``"Ether."`` all
        lifecycle and log topics: a subscription ending in ``.`` or empty is a prefix)."""
        if topic not in self._topics:
            self._topics.add(topic)
            self._sub.setsockopt(zmq.SUBSCRIBE, topic.encode())

    def unsubscribe(self, topic: str) -> None:
        if topic in self._topics:
            self._topics.discard(topic)
            self._sub.setsockopt(zmq.UNSUBSCRIBE, topic.encode())

    def wants(self, topic: str) -> bool:
        """Whether a received ``topic`` matches this client's subscriptions (ZeroMQ matches by prefix)."""
        if topic in self._topics:
            return True
        return any(t == "" or (t.endswith(".") and topic.startswith(t)) for t in self._topics)

    @property
    def socket(self) -> zmq.Socket[bytes]:
        """The SUB socket, for a ``zmq.Poller`` (then call :meth:`recv` with ``timeout=0``)."""
        return self._sub

    def recv(self, timeout: float | None = None) -> Envelope | None:
        """The next message for this client, or ``None`` after ``timeout`` seconds (``None``: wait).

        Malformed messages raise :class:`ether_medium.fabric.envelope.EnvelopeError` (the caller logs them and
        carries on); messages on topics that only share a prefix with a subscription are skipped.
        """
        if self._pending:
            return self._pending.popleft()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if deadline is None:
                ready = self._sub.poll(None)
            else:
                left = deadline - time.monotonic()
                ready = self._sub.poll(max(0, int(left * 1000))) if left > 0 else self._sub.poll(0)
            if not ready:
                return None
            frames = self._sub.recv_multipart()
            env = decode(frames)
            if self.wants(env.topic):
                return env
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def take_pending(self) -> list[Envelope]:
        """Messages kept aside by :meth:`handshake` (for a caller that then reads :attr:`socket` itself)."""
        out = list(self._pending)
        self._pending.clear()
        return out

    def poll(self, timeout: float = 0.0) -> bool:
        """Whether a message is waiting (within ``timeout`` seconds)."""
        return bool(self._pending) or bool(self._sub.poll(int(timeout * 1000)))

    # -- readiness -------------------------------------------------------------------------------------
    def handshake(self, timeout: float = 10.0) -> None:
        """Return once this client's subscriptions are live in the broker (see the module docstring).

        Messages that arrive meanwhile on other subscribed topics are kept for :meth:`recv`.
        """
        probe = f"Ether.probe.{self.name}.{uuid.uuid4().hex[:8]}"
        self.subscribe(probe)
        deadline = time.monotonic() + timeout
        interval_ms = 1
        try:
            while time.monotonic() < deadline:
                self.publish(probe, {})
                end = time.monotonic() + interval_ms / 1000
                while True:
                    left = end - time.monotonic()
                    if left <= 0 or not self._sub.poll(max(1, int(left * 1000))):
                        break
                    try:
                        env = decode(self._sub.recv_multipart())
                    except EnvelopeError:
                        continue
                    if env.topic == probe:
                        return
                    if self.wants(env.topic):
                        self._pending.append(env)
                interval_ms = min(interval_ms * 2, 50)
            raise TimeoutError(
                f"fabric client {self.name!r}: no answer from the broker at {self.addresses.publish} "
                f"within {timeout} s (is the process that called ether.tap() still running?)"
            )
        finally:
            self.unsubscribe(probe)

    def wait_for(self, topic: str, timeout: float) -> Envelope | None:
        """Receive until a message on ``topic`` arrives (others are kept for :meth:`recv`); ``None`` on
        timeout. ``topic`` must be subscribed."""
        deadline = time.monotonic() + timeout
        kept: list[Envelope] = []
        try:
            while (left := deadline - time.monotonic()) > 0:
                try:
                    env = self.recv(left)
                except EnvelopeError:
                    continue
                if env is None:
                    return None
                if env.topic == topic:
                    return env
                kept.append(env)
            return None
        finally:
            self._pending.extendleft(reversed(kept))

    def go_live(self) -> None:
        """Mark the launcher as listening (its roll call arrived): run the :attr:`on_live` callbacks, e.g.
        the log handler sends what it held back."""
        if not self.live:
            self.live = True
            for callback in self.on_live:
                callback()

    def join(self, listening: bool, timeout: float = 30.0, **info: Any) -> None:
        """The start-up sequence of every child process, after it subscribed what it needs:
        :meth:`handshake`; unless ``listening`` (a restart: the launcher listens already), wait for the
        launcher's ``Ether.rollcall``; :meth:`go_live`; publish ``Ether.ready``
        ``{"name", "pid", **info}``."""
        self.subscribe(topics.ROLLCALL)
        self.handshake(timeout)
        if not listening and self.wait_for(topics.ROLLCALL, timeout) is None:
            raise TimeoutError(f"{self.name}: no roll call from the launcher within {timeout} s")
        self.unsubscribe(topics.ROLLCALL)
        self.go_live()
        node = os.environ.get("ETHER_NODE")  # set by a cluster engine: where this process runs
        where = {"node": node} if node else {}
        self.publish(topics.READY, {"name": self.name, "pid": os.getpid(), **where, **info})

    # -- closing ---------------------------------------------------------------------------------------
    def close(self, bye: bool = True) -> None:
        """Publish ``Ether.bye`` (unless ``bye=False``) as the last message, then close both sockets.
        Idempotent."""
        if self.closed:
            return
        if bye:
            with contextlib.suppress(zmq.ZMQError):
                self.publish(topics.BYE, {"name": self.name, "pid": os.getpid()})
        self.closed = True
        self._sub.close(0)
        self._pub.close()


_process_client: FabricClient | None = None


def set_process_client(client: FabricClient | None) -> None:
    """Make ``client`` this child process's own connection (``ether.publish`` in an instance uses it)."""
    global _process_client
    _process_client = client


def process_client() -> FabricClient | None:
    """This child process's own connection to the fabric, while it is open; ``None`` elsewhere."""
    client = _process_client
    return client if client is not None and not client.closed else None
