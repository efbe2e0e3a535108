"""Several machines, the joining side: run a config's instances and devices here, in a session whose broker
runs on another machine (``ether run remote.yaml --join tcp://HOST:PORT``, or ``fabric: {join: ...}``).

:class:`JoiningLauncher` is what ``ether.tap`` uses for such a config. Its ``tap``:

1. checks, with a socket of its own, that the broker at HOST answers and accepts this machine's CURVE key
   (a refused key, a wrong server key or no broker each give an :class:`JoinError` that says what to do);
2. publishes ``Ether.join`` until the main session welcomes it (:mod:`ether_medium.fabric.remote`), and takes
the
   session id and the phases passed so far from the answer;
3. forks its processes (before it holds a ZeroMQ context, as the main launcher does), each connected to the
   remote broker with this machine's keys; those instances run the phases the session has passed (init,
   start) by themselves, like a restarted instance;
4. waits for their ``Ether.ready`` and returns. It never publishes lifecycle topics: ``Ether.start``,
   ``save``, ``cleanup`` and ``shutdown`` come from the main session.

The session's ``Ether.shutdown`` stops this machine's processes like the main machine's; the launcher then
sets :attr:`Launcher.ended` (``ether run`` returns). Leaving earlier (Ctrl-C, ``--duration``,
``ether.shutdown()`` here) sends SIGTERM to this machine's processes: an instance then runs the phases it has
not run yet (save, cleanup, shutdown handlers, as on ``Ether.shutdown``) and says ``Ether.bye``; a bridge
stops. The main session is not told to stop and never waits for a joined machine.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from ether_medium import topics
from ether_medium.config import EtherConfig, parse_join
from ether_medium.errors import JoinError, LaunchError
from ether_medium.fabric.broker import BrokerAddresses
from ether_medium.fabric.client import FabricClient
from ether_medium.fabric.health import RunReport
from ether_medium.fabric.launcher import TAP_NAME, Launcher
from ether_medium.fabric.plan import plan_children, service_specs
from ether_medium.fabric.remote import tcp_endpoint, welcome_topic
from ether_medium.fabric.service import ServiceSpec
from ether_medium.logs import FabricLogHandler, get_logger, print_remote

if TYPE_CHECKING:
    pass

__all__ = ["JoiningLauncher", "introduce"]

log = get_logger()

_HANDSHAKE_EVENTS = {
    zmq.EVENT_HANDSHAKE_SUCCEEDED: "succeeded",
    zmq.EVENT_HANDSHAKE_FAILED_AUTH: "refused",
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "protocol error",
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "failed",
    zmq.EVENT_DISCONNECTED: "disconnected",
}


def _public_key_file(key_file: str) -> str:
    return key_file.removesuffix("_secret")


def check_broker(context: zmq.Context[Any], addresses: BrokerAddresses, timeout: float) -> None:
    """Return once a connection to the broker's subscriber endpoint completes its handshake (CURVE when
    ``addresses`` carry key files); :class:`JoinError` naming the cause otherwise."""
    sock = context.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    addresses.secure(sock)
    monitor = sock.get_monitor_socket(sum(_HANDSHAKE_EVENTS))
    failures: list[str] = []
    try:
        sock.connect(addresses.subscribe)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0 and len(failures) < 3:
            if not monitor.poll(max(1, int(left * 1000))):
                break
            what = _HANDSHAKE_EVENTS.get(recv_monitor_message(monitor)["event"], "")
            if what == "succeeded":
                return
            if what == "refused":
                raise JoinError(
                    f"the broker at {addresses.publish} refused this machine's key: copy "
                    f"{_public_key_file(addresses.key_file or '?')} to the directory named by fabric.curve."
                    "authorized on the broker machine (no restart needed there), then join again"
                )
            if what:
                failures.append(what)
        if failures:
            raise JoinError(
                f"the broker at {addresses.publish} closed the connection during the handshake "
                f"({', '.join(failures)}): check that fabric.curve.server_key is the broker machine's public "
                "key and that both sides use CURVE (or neither, on loopback)"
            )
        raise JoinError(
            f"no broker answered at {addresses.subscribe} within {timeout:.0f} s: is the main session "
            f"running with fabric.transport: tcp and that port (it listens on {addresses.publish} and the "
            "next port), and can this machine reach it?"
        )
    finally:
        sock.disable_monitor()
        monitor.close(0)
        sock.close(0)


def introduce(addresses: BrokerAddresses, name: str, names: list[str], timeout: float) -> dict[str, Any]:
    """Steps 1 and 2 of joining (see the module docstring), in a ZeroMQ context of its own that is gone when
    this returns (so the launcher can fork afterwards). Returns the welcome ``{session, phases}``."""
    context: zmq.Context[Any] = zmq.Context()
    try:
        check_broker(context, addresses, timeout)
        client = FabricClient(addresses, name, context=context)
        try:
            topic = welcome_topic(name)
            client.subscribe(topic)
            client.handshake(timeout)
            deadline = time.monotonic() + timeout
            request = {"name": name, "host": socket.gethostname(), "pid": os.getpid(), "names": names}
            welcome = None
            while welcome is None and time.monotonic() < deadline:
                client.publish(topics.JOIN, request)
                welcome = client.wait_for(topic, 0.2)
        finally:
            client.close(bye=False)
    finally:
        context.destroy(linger=0)
    if welcome is None:
        raise JoinError(
            f"the broker at {addresses.publish} answers, but no Ether session welcomed {name} within "
            f"{timeout:.0f} s (is it an Ether session's broker?)"
        )
    error = welcome.data.get("error")
    if error:
        raise JoinError(f"the session at {addresses.publish} does not let {name} join: {error}")
    return welcome.data


class JoiningLauncher(Launcher):
    """The launcher of a machine that joins a session running elsewhere (see the module docstring)."""

    SUPERVISED = (
        topics.LOG,
        topics.READY,
        topics.DONE,
        topics.BYE,
        topics.INIT,
        topics.START,
        topics.SHUTDOWN,
        topics.HEALTH,
        topics.DEVICE,
    )

    def __init__(self, config: EtherConfig, services: list[ServiceSpec] | None = None) -> None:
        super().__init__(config, services)
        self.health_log.everyone = False  # the whole session's reports reach here: only ours count
        self.tap_name = f"{TAP_NAME}@{socket.gethostname()}:{os.getpid()}"

    def _join_addresses(self) -> BrokerAddresses:
        fabric = self.config.fabric
        assert fabric.join is not None
        host, port = parse_join(fabric.join)
        publish, subscribe = tcp_endpoint(host, port), tcp_endpoint(host, port + 1)
        if fabric.curve is None:
            return BrokerAddresses(publish, subscribe)
        assert fabric.curve.server_key is not None  # the config checks it
        addresses = BrokerAddresses(
            publish, subscribe, os.path.abspath(fabric.curve.key), os.path.abspath(fabric.curve.server_key)
        )
        from ether_medium.fabric.curve import client_keys

        try:
            client_keys(addresses.key_file or "", addresses.server_key_file or "")
        except ValueError as exc:
            raise LaunchError(f"config {self.config.source}: {exc}") from exc
        return addresses

    def tap(self, ready_timeout: float = 30.0) -> None:
        recorder, services = service_specs(self.config, self.extra_services)
        assert recorder is None  # the config refuses recording: when joining
        self._addresses = self._join_addresses()
        log.info("Joining the Ether session at %s as %s...", self.config.fabric.join, self.tap_name)
        self.children.update(plan_children(self.config, self.session_id, None, services))
        for child in self.children.values():
            child.spec["leave_on_sigterm"] = True
        welcome = introduce(self._addresses, self.tap_name, list(self.children), min(ready_timeout, 10.0))
        self.session_id = str(welcome.get("session"))
        self.phases = [p for p in ("init", "start") if p in (welcome.get("phases") or [])]
        try:
            for child in self.children.values():
                child.spec["session"] = self.session_id
                self._spawn(child)  # forked: introduce() left no ZeroMQ context behind
            self._ctx = zmq.Context()
            self._thread = self._start_supervisor()
            self._main = FabricClient(self._addresses, self.tap_name, context=self._ctx)
            self._main.handshake()
            self._main.go_live()
            self._log_handler = FabricLogHandler(self._main)
            log.addHandler(self._log_handler)  # this launcher's records reach the main session's console too
            if not self._sup_live.wait(10.0):
                raise LaunchError("the launcher's supervisor could not connect to the broker")
            self._wait_ready(list(self.children), ready_timeout)
            log.info(
                "Joined session %s: %s (phases passed: %s)",
                self.session_id,
                ", ".join(self.children) or "no processes",
                ", ".join(self.phases) or "none",
            )
        except BaseException:
            self._teardown()
            raise

    def _start_supervisor(self) -> threading.Thread:
        thread = threading.Thread(target=self._supervise, name="ether-supervisor", daemon=True)
        thread.start()
        return thread

    def start(self) -> None:
        """Nothing to do: ``Ether.start`` comes from the main session (the instances here caught up)."""
        self.started = True

    def shutdown(self, timeout: float = 10.0) -> RunReport:
        deadline = time.monotonic() + timeout
        dead = self._dead_at_stop()
        leaving = not self.ended.is_set()
        if leaving:
            log.info("Leaving session %s: stopping this machine's processes", self.session_id)
        self.stopping = True
        try:
            for child in self.children.values():
                if leaving and child.proc is not None and child.exit_code is None:
                    child.proc.terminate()  # instances: remaining phases, then Ether.bye
            if self._main is not None:
                self._main.close(bye=True)
            self._reap(list(self.children.values()), deadline)
            self._await_byes([c.name for c in self.children.values() if c.exit_code == 0], 1.0)
        finally:
            self._teardown()
        log.info("Left the Ether session")
        return self._finish(dead, None)

    def _on_message(self, topic: str, data: dict[str, Any]) -> None:
        if topic == topics.LOG:
            if data.get("name") in self.children:  # the main session prints everyone's; here only ours
                print_remote(data)
            return
        if topic in (topics.INIT, topics.START):
            phase = topic.removeprefix("Ether.")
            if phase not in self.phases:
                self.phases.append(phase)  # a process restarted here catches up on it
            return
        if topic == topics.SHUTDOWN:
            self.stopping = True
            if not self.ended.is_set():
                log.info("The main session is shutting down")
                self.ended.set()
            return
        super()._on_message(topic, data)
