"""The fabric's broker: a ZeroMQ XSUB/XPUB proxy (``zmq.proxy_steerable``), no Python forwarding loop.

Publishers connect a PUB socket to :attr:`BrokerAddresses.publish` (the XSUB side); subscribers connect a
SUB socket to :attr:`BrokerAddresses.subscribe` (the XPUB side). The proxy runs in a background thread of
the process that called ``ether.tap`` (the C proxy loop releases the GIL).

For other machines the broker also listens on TCP (:class:`TcpListener`, ``fabric: {transport: tcp}``):
the same two sockets bind a TCP endpoint each, as CURVE servers when the listener has server keys (socket
options apply per bind, so the local ``ipc://`` endpoints stay plain). A joining machine's addresses carry
its key files (:attr:`BrokerAddresses.key_file`), which every client puts on its sockets
(:meth:`BrokerAddresses.secure`).
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass
from typing import Any

import zmq

from ether_medium.logs import get_logger

__all__ = ["Broker", "BrokerAddresses", "TcpListener"]

log = get_logger()


@dataclass(frozen=True, slots=True)
class BrokerAddresses:
    publish: str  # PUB sockets connect here (the broker's XSUB)
    subscribe: str  # SUB sockets connect here (the broker's XPUB)
    key_file: str | None = None  # CURVE: this machine's NAME.key_secret (a machine joining over TCP)
    server_key_file: str | None = None  # CURVE: the broker machine's NAME.key
    # CURVE keys in memory, Z85 "public secret server" (a Ray-placed process: the launcher hands them over,
    # nothing is written to disk); wins over the key files
    keys: str | None = None

    def as_env(self) -> dict[str, str]:
        env = {"ETHER_PUBLISH": self.publish, "ETHER_SUBSCRIBE": self.subscribe}
        if self.key_file is not None and self.server_key_file is not None:
            env["ETHER_KEY"] = self.key_file
            env["ETHER_SERVER_KEY"] = self.server_key_file
        if self.keys is not None:
            env["ETHER_CURVE_KEYS"] = self.keys
        return env

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> BrokerAddresses:
        env = dict(os.environ) if env is None else env
        try:
            return cls(
                env["ETHER_PUBLISH"],
                env["ETHER_SUBSCRIBE"],
                env.get("ETHER_KEY"),
                env.get("ETHER_SERVER_KEY"),
                env.get("ETHER_CURVE_KEYS"),
            )
        except KeyError as exc:
            raise RuntimeError(
                f"{exc.args[0]} is not set: this process was not started by ether.tap()"
            ) from exc

    def secure(self, sock: zmq.Socket[Any]) -> None:
        """Put this machine's CURVE keys on ``sock`` (call before ``connect``); nothing without keys."""
        if self.keys is not None:
            from ether_medium.fabric.curve import ClientKeys

            public, secret, server = (part.encode("ascii") for part in self.keys.split())
            ClientKeys(public, secret, server).apply(sock)
        elif self.key_file is not None and self.server_key_file is not None:
            from ether_medium.fabric.curve import client_keys

            client_keys(self.key_file, self.server_key_file).apply(sock)


@dataclass(frozen=True)
class TcpListener:
    """TCP endpoints the broker binds besides its local ones, for other machines; CURVE servers when
    ``server_public`` / ``server_secret`` (Z85) are given."""

    publish: str
    subscribe: str
    server_public: bytes | None = None
    server_secret: bytes | None = None


class Broker:
    """Start with :meth:`start`, stop with :meth:`stop`; both are idempotent."""

    def __init__(
        self,
        addresses: BrokerAddresses | None = None,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
        listener: TcpListener | None = None,
    ) -> None:
        self.listener = listener
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        if addresses is None:
            self._dir = tempfile.TemporaryDirectory(prefix="ether-")
            addresses = BrokerAddresses(f"ipc://{self._dir.name}/pub", f"ipc://{self._dir.name}/sub")
        self.addresses = addresses
        self._ctx: zmq.Context[zmq.Socket[bytes]] = context if context is not None else zmq.Context.instance()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._control_addr = f"inproc://ether-broker-control-{id(self)}"
        self._control: zmq.Socket[bytes] | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="ether-broker", daemon=True)
        self._thread.start()
        self._ready.wait(5.0)
        if self._error is not None:
            raise RuntimeError(f"broker could not start: {self._error}") from self._error
        self._control = self._ctx.socket(zmq.PAIR)
        self._control.connect(self._control_addr)

    def _run(self) -> None:
        xsub = self._ctx.socket(zmq.XSUB)
        xpub = self._ctx.socket(zmq.XPUB)
        control = self._ctx.socket(zmq.PAIR)
        for sock in (xsub, xpub):
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDHWM, 0)
            sock.setsockopt(zmq.RCVHWM, 0)
        endpoint = self.addresses.publish
        try:
            xsub.bind(endpoint)
            xpub.bind(endpoint := self.addresses.subscribe)
            control.bind(endpoint := self._control_addr)
            if (tcp := self.listener) is not None:
                for sock, endpoint in ((xsub, tcp.publish), (xpub, tcp.subscribe)):
                    if tcp.server_public is not None and tcp.server_secret is not None:
                        sock.setsockopt(zmq.CURVE_SERVER, 1)
                        sock.setsockopt(zmq.CURVE_PUBLICKEY, tcp.server_public)
                        sock.setsockopt(zmq.CURVE_SECRETKEY, tcp.server_secret)
                    sock.bind(endpoint)
        except zmq.ZMQError as exc:
            self._error = RuntimeError(f"cannot bind {endpoint}: {exc}")
            self._ready.set()
            for sock in (xsub, xpub, control):
                sock.close(0)
            return
        # Every publisher sends everything to the broker, which alone filters (its XPUB): then a subscriber
        # whose handshake came back through the broker (FabricClient.handshake) receives every message
        # published after it, from every publisher. Were subscriptions forwarded to each publisher's PUB
        # socket, one that had not yet taken in a new subscription would drop what it sends meanwhile.
        xsub.send(b"\x01")
        self._ready.set()
        try:
            zmq.proxy_steerable(xsub, xpub, None, control)
        except zmq.ZMQError as exc:
            if exc.errno != zmq.ETERM and not self._stopping:
                log.error("the fabric's broker stopped: %s (messages are no longer forwarded)", exc)
        finally:
            for sock in (xsub, xpub, control):
                sock.close(0)

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stopping = True
        if self._control is not None:
            # Keep the control socket open until the proxy has stopped (closing it at once can drop
            # TERMINATE before the proxy reads it), and repeat the command in case one is missed.
            for _ in range(50):
                self._control.send(b"TERMINATE")
                self._thread.join(0.1)
                if not self._thread.is_alive():
                    break
            self._control.close(0)
            self._control = None
        self._thread.join(5.0)
        self._thread = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
