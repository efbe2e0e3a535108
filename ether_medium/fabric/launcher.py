"""The launcher: what ``ether.tap`` / ``start`` / ``shutdown`` do in the tap process.

``tap`` starts the broker (a thread of this process), then the recorder (if ``recording:``) and waits until it
is ready, then every instance and bridge process at once (``python -m ether_medium.fabric.child``, no fork of
a
process that holds a ZeroMQ context), and waits until each has handshaken with the broker and announced
``Ether.ready`` (so none misses the first message after ``start``). A supervisor thread prints the children's
``Ether.log`` records, collects lifecycle acknowledgements and watches the processes: one that exits
unexpectedly is logged with its name and exit code, ``Ether.exited`` is published for it, and it is restarted
when its ``restart:`` policy says so.

``shutdown``: ``Ether.save`` (wait for every instance's ``Ether.done``), ``Ether.cleanup`` (same), then
``Ether.shutdown`` and this process's ``Ether.bye``; wait for instances and bridges to exit, then the
recorder, as long as its progress reports (``Ether.recorder.progress``) show it committing a backlog (see
:meth:`Launcher._reap_recorder`); stragglers are stopped by PID (SIGTERM, then SIGKILL). Returns when every
child and socket is gone.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import zmq

from ether_medium.config import EtherConfig, RestartPolicy
from ether_medium.errors import EnvelopeError, LaunchError
from ether_medium.fabric.broker import Broker, BrokerAddresses
from ether_medium.fabric.client import TOPIC_BYE, TOPIC_READY, TOPIC_ROLLCALL, FabricClient
from ether_medium.fabric.instance import TOPIC_DONE
from ether_medium.fabric.process import ChildProcess, can_fork, fork_child, spawn_child
from ether_medium.fabric.remote import (
    TOPIC_JOIN,
    Reception,
    describe_listener,
    start_authenticator,
    tcp_listener,
)
from ether_medium.fabric.service import BRIDGE_TARGET, RECORDER_TARGET, ServiceSpec
from ether_medium.logs import TOPIC_LOG, FabricLogHandler, get_logger, print_remote

if TYPE_CHECKING:
    from ether_medium.fabric.curve import KeyAuthenticator

__all__ = ["TAP_NAME", "TOPIC_EXITED", "Launcher", "fabric_file"]

log = get_logger()

TAP_NAME = "ether"
TOPIC_EXITED = "Ether.exited"
# {name, received, committed, pending}: a draining recorder reports (ether_medium.recorder.recorder.PROGRESS)
TOPIC_RECORDER_PROGRESS = "Ether.recorder.progress"


def fabric_file() -> str:
    """Where a running tap process writes its broker addresses for ``ether monitor``:
    ``$ETHER_STATE_DIR/fabric.json``, else ``$XDG_RUNTIME_DIR/ether/fabric.json``, else
    ``./.ether/fabric.json``."""
    base = os.environ.get("ETHER_STATE_DIR")
    if not base:
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        base = os.path.join(xdg, "ether") if xdg else os.path.join(os.getcwd(), ".ether")
    return os.path.join(base, "fabric.json")


def _policy(value: str | RestartPolicy) -> RestartPolicy:
    return value if isinstance(value, RestartPolicy) else RestartPolicy.model_validate({"policy": value})


@dataclass
class Child:
    name: str
    kind: Literal["instance", "service"]
    spec: dict[str, Any]
    restart: RestartPolicy
    proc: ChildProcess | None = None
    restarts: int = 0
    ready: bool = False
    exit_code: int | None = None
    restart_at: float | None = None
    started_at: float = 0.0
    history: list[int] = field(default_factory=list)


class Launcher:
    # what the supervisor thread receives (see _on_message)
    SUPERVISED: tuple[str, ...] = (
        TOPIC_LOG, TOPIC_READY, TOPIC_DONE, TOPIC_BYE, TOPIC_JOIN, TOPIC_RECORDER_PROGRESS
    )
    recorder_stall_s = 5.0  # at shutdown, stop the recorder after this long without progress...
    recorder_cap_s = 300.0  # ...or this long after it began waiting for it, however it progresses

    def __init__(self, config: EtherConfig, services: list[ServiceSpec] | None = None) -> None:
        self.config = config
        self.session_id = str(uuid.uuid4())
        self.extra_services = list(services or [])
        self.broker: Broker | None = None
        self.children: dict[str, Child] = {}
        self.started = False
        self.stopping = False
        self.failures: list[tuple[str, int]] = []
        self._main: FabricClient | None = None
        self._sup: FabricClient | None = None
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()
        self._done: dict[str, set[str]] = {"init": set(), "save": set(), "cleanup": set()}
        self.phases: list[str] = []  # lifecycle phases published so far
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._addresses: BrokerAddresses | None = None
        self._ctx: zmq.Context[zmq.Socket[bytes]] | None = None
        self._byes: set[str] = set()
        self._unreported: list[dict[str, Any]] = []
        self._sup_stop = threading.Event()
        self._sup_live = threading.Event()
        self._fabric_file: str | None = None
        self._log_handler: FabricLogHandler | None = None
        self._reception = Reception()  # machines that joined (fabric.transport: tcp)
        self._auth: KeyAuthenticator | None = None  # admits joining machines' keys (fabric.curve)
        self.ended = threading.Event()  # set when the session ends by itself (a joining machine's launcher)
        self._recorder_progress: dict[str, Any] = {}

    @property
    def context(self) -> zmq.Context[zmq.Socket[bytes]] | None:
        """The fabric's ZeroMQ context in the tap process (for clients made there, e.g. by tests)."""
        return self._ctx

    @property
    def main_client(self) -> FabricClient | None:
        """The tap process's own client (name ``ether``); thread-safe for publishing."""
        return self._main

    @property
    def addresses(self) -> BrokerAddresses:
        if self._addresses is None:
            raise LaunchError("the fabric is not running")
        return self._addresses

    # -- children --------------------------------------------------------------------------------------
    def _service_specs(self) -> tuple[ServiceSpec | None, list[ServiceSpec]]:
        cfg = self.config
        recorder = None
        if cfg.recording is not None and cfg.recording.enabled:
            recorder = ServiceSpec("recorder", RECORDER_TARGET)
        bridges = [ServiceSpec(f"bridge.{name}", BRIDGE_TARGET, {"device": name}) for name in cfg.devices]
        for spec, section in [(recorder, "recording"), *((b, "devices") for b in bridges)]:
            if spec is None:
                continue
            module = spec.target.partition(":")[0]
            try:
                found = importlib.util.find_spec(module) is not None
            except ModuleNotFoundError:
                found = False
            if not found:
                raise LaunchError(
                    f"config {cfg.source}: the {section!r} section needs module {module!r} "
                    f"(target {spec.target}), which is not available in this installation"
                )
        return recorder, [*bridges, *self.extra_services]

    def _child_spec(
        self, name: str, kind: Literal["instance", "service"], body: dict[str, Any]
    ) -> dict[str, Any]:
        spec: dict[str, Any] = {"name": name, "kind": kind, "session": self.session_id, kind: body}
        if kind == "service":
            spec["config"] = self.config.raw
            spec["config_source"] = self.config.source
        return spec

    def _env(self, child: Child, full: bool) -> dict[str, str]:
        env = dict(os.environ) if full else {}
        env.update(self.addresses.as_env())
        spec = dict(
            child.spec,
            catch_up=[p for p in ("init", "start") if p in self.phases],
            listening=self._sup_live.is_set(),
        )
        env["ETHER_CHILD"] = json.dumps(spec, default=str)
        env["ETHER_SESSION"] = self.session_id
        env["ETHER_NAME"] = child.name
        env["ETHER_LOG_LEVEL"] = logging.getLevelName(log.getEffectiveLevel())
        if full:
            paths = [p for p in sys.path if p and os.path.isdir(p)]
            if os.getcwd() not in paths:
                paths.insert(0, os.getcwd())
            env["PYTHONPATH"] = os.pathsep.join(paths)
        return env

    def _spawn(self, child: Child) -> None:
        child.ready = False
        child.exit_code = None
        child.restart_at = None
        child.started_at = time.monotonic()
        if can_fork():
            env = self._env(child, full=False)
            spec = json.loads(env["ETHER_CHILD"])
            from ether_medium.fabric.child import run_child

            child.proc = fork_child(lambda: run_child(spec, env))
        else:
            child.proc = spawn_child(self._env(child, full=True))

    def _wait_ready(self, names: list[str], timeout: float) -> None:
        """Call the roll (``Ether.rollcall``, every 20 ms) until every child in ``names`` answered."""
        assert self._main is not None
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                self._main.publish(TOPIC_ROLLCALL, {})
                waiting = [
                    n for n in names if not self.children[n].ready and self.children[n].exit_code is None
                ]
                if not waiting:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    log.error(
                        "not ready after %.1f s: %s (continuing without waiting)", timeout, ", ".join(waiting)
                    )
                    return
                self._cond.wait(min(left, 0.02))

    # -- tap / start / shutdown ------------------------------------------------------------------------
    def _plan(self, recorder: ServiceSpec | None, services: list[ServiceSpec]) -> None:
        """Fill :attr:`children` (the recorder first) from the config; nothing starts yet."""
        instance_names = list(self.config.instances)
        if recorder is not None:
            wait_for = [TAP_NAME, *instance_names, *(s.name for s in services)]
            body = {"target": recorder.target, "kwargs": recorder.kwargs, "wait_for": wait_for}
            self.children[recorder.name] = Child(
                recorder.name,
                "service",
                self._child_spec(recorder.name, "service", body),
                _policy("never"),
            )
        for spec in services:
            body = {"target": spec.target, "kwargs": spec.kwargs, "wait_for": []}
            self.children[spec.name] = Child(
                spec.name, "service", self._child_spec(spec.name, "service", body), _policy(spec.restart)
            )
        registry = dict(self.config.raw.get("registry") or {})
        for name, inst in self.config.instances.items():
            body = {
                "class_path": inst.class_path,
                "args": inst.args,
                "kwargs": inst.kwargs,
                "registry": registry,
                "errors": self.config.errors.model_dump(),
            }
            self.children[name] = Child(
                name, "instance", self._child_spec(name, "instance", body), _policy(inst.restart)
            )

    def tap(self, ready_timeout: float = 30.0) -> None:
        recorder, services = self._service_specs()
        try:
            listener = tcp_listener(self.config.fabric)  # key files are read before anything starts
        except ValueError as exc:
            raise LaunchError(f"config {self.config.source}: {exc}") from exc
        log.info("Starting Ether session: %s...", self.session_id)
        self._dir = tempfile.TemporaryDirectory(prefix="ether-")
        self._addresses = BrokerAddresses(f"ipc://{self._dir.name}/pub", f"ipc://{self._dir.name}/sub")
        try:
            self._plan(recorder, services)
            # Fork every child before this process holds a ZeroMQ context or a thread (see process.py). The
            # recorder comes first; it is ready before Ether.init, so it sees everything from then on.
            for child in self.children.values():
                self._spawn(child)
            # The fabric's own context (not zmq.Context.instance(), which belongs to the user), created after
            # the children were forked and destroyed at shutdown.
            self._ctx = zmq.Context()
            self._auth = start_authenticator(self.config.fabric, self._ctx)
            self.broker = Broker(self._addresses, self._ctx, listener)
            try:
                self.broker.start()
            except RuntimeError as exc:
                hint = " (is another session using fabric.port?)" if listener is not None else ""
                raise LaunchError(f"config {self.config.source}: {exc}{hint}") from exc
            if listener is not None:
                log.info("%s", describe_listener(self.config.fabric, self._auth))
            self._thread = threading.Thread(target=self._supervise, name="ether-supervisor", daemon=True)
            self._thread.start()
            self._main = FabricClient(self._addresses, TAP_NAME, context=self._ctx)
            self._main.handshake()
            self._main.go_live()
            self._log_handler = FabricLogHandler(self._main)
            log.addHandler(self._log_handler)  # the tap process's own records go on Ether.log too
            if not self._sup_live.wait(10.0):
                raise LaunchError("the launcher's supervisor could not connect to the broker")
            self._wait_ready(list(self.children), ready_timeout)
            self._phase("init", time.monotonic() + ready_timeout)
            self._write_fabric_file()
        except BaseException:
            self._teardown()
            raise

    def start(self) -> None:
        assert self._main is not None
        self.started = True
        self.phases.append("start")
        self._main.publish("Ether.start", {})
        log.info("Ether system started successfully")

    def _live_instances(self) -> list[str]:
        return [
            c.name
            for c in self.children.values()
            if c.kind == "instance" and c.proc is not None and c.exit_code is None
        ]

    def _phase(self, phase: str, deadline: float) -> None:
        assert self._main is not None
        self.phases.append(phase)
        self._main.publish(f"Ether.{phase}", {})
        with self._cond:
            while True:
                missing = [n for n in self._live_instances() if n not in self._done[phase]]
                if not missing:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    log.warning("%s handlers not finished in time by: %s", phase, ", ".join(missing))
                    return
                self._cond.wait(min(left, 0.05))

    def shutdown(self, timeout: float = 10.0) -> None:
        log.info("Shutting down Ether session: %s...", self.session_id)
        deadline = time.monotonic() + timeout
        self.stopping = True
        try:
            self._phase("save", deadline)
            self._phase("cleanup", deadline)
            assert self._main is not None
            self._main.publish("Ether.shutdown", {})
            self._main.close(bye=True)
            recorder = self.children.get("recorder")
            others = [c for c in self.children.values() if c is not recorder]
            self._reap(others, deadline)
            if recorder is not None:
                self._reap_recorder(recorder, deadline)
        finally:
            self._teardown()
        log.info("Ether system shutdown complete")

    def _reap(self, children: list[Child], deadline: float) -> None:
        procs = [c for c in children if c.proc is not None]
        for child in procs:
            assert child.proc is not None
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(max(0.0, deadline - time.monotonic()))
        for child in procs:
            assert child.proc is not None
            if child.proc.poll() is None:
                log.warning("%s (PID %d) did not exit in time; stopping it", child.name, child.proc.pid)
                child.proc.terminate()
                try:
                    child.proc.wait(0.5)
                except subprocess.TimeoutExpired:
                    child.proc.kill()
                    child.proc.wait()
            self._exited(child, child.proc.wait())

    def _reap_recorder(self, recorder: Child, deadline: float) -> None:
        """Wait for the recorder to commit and exit: until ``deadline``, then as long as its progress reports
        (about four a second while it drains) show rows received or committed in the last
        ``recorder_stall_s``, up to ``recorder_cap_s``; then stop it, logging the rows not committed."""
        proc = recorder.proc
        if proc is None:
            return
        start = time.monotonic()
        moved, last = start, None
        while proc.poll() is None:
            now = time.monotonic()
            with self._cond:
                report = dict(self._recorder_progress)
            seen = (report.get("received"), report.get("committed"))
            if seen != last:
                moved, last = now, seen
            stalled = now - moved >= self.recorder_stall_s
            if now - start >= self.recorder_cap_s or (stalled and now >= deadline):
                why = "no progress" if stalled else "still draining"
                log.warning(
                    "recorder (PID %d): %s after %.1f s; stopping it: %s rows received and not committed "
                    "(its last report) are lost",
                    proc.pid,
                    why,
                    now - start,
                    report.get("pending", "an unknown number of"),
                )
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(0.05)
        self._reap([recorder], time.monotonic())

    def _teardown(self) -> None:
        self.stopping = True
        if self._log_handler is not None:
            log.removeHandler(self._log_handler)
            self._log_handler = None
        for child in self.children.values():
            if child.proc is not None and child.proc.poll() is None:
                child.proc.kill()
                child.proc.wait()
        self._sup_stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        if self._main is not None:
            self._main.close(bye=False)
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        if self._ctx is not None:  # every socket of ours is closed; nothing can hang here
            self._ctx.destroy(linger=0)
            self._ctx = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
        if self._fabric_file is not None:
            with contextlib.suppress(OSError):
                with open(self._fabric_file) as fh:
                    mine = json.load(fh).get("pid") == os.getpid()
                if mine:
                    os.unlink(self._fabric_file)
            self._fabric_file = None

    def _write_fabric_file(self) -> None:
        path = fabric_file()
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.{os.getpid()}"
            with open(tmp, "w") as fh:
                json.dump({"pid": os.getpid(), "session": self.session_id, **self.addresses.as_env()}, fh)
            os.replace(tmp, path)
            self._fabric_file = path
        except OSError as exc:
            log.debug("could not write %s: %s", path, exc)

    # -- supervisor thread -----------------------------------------------------------------------------
    def _supervise(self) -> None:
        client = FabricClient(self.addresses, f"{TAP_NAME}.supervisor", context=self._ctx)
        self._sup = client
        for topic in self.SUPERVISED:
            client.subscribe(topic)
        try:
            client.handshake()
        except TimeoutError:
            return
        self._sup_live.set()
        try:
            while not self._sup_stop.is_set():
                try:
                    env = client.recv(0.02)
                except EnvelopeError as exc:
                    log.error("dropped a malformed fabric message: %s", exc)
                    continue
                if env is not None:
                    self._on_message(env.topic, env.data)
                self._watch(client)
        finally:
            client.close(bye=False)
            self._sup = None

    def _on_message(self, topic: str, data: dict[str, Any]) -> None:
        if topic == TOPIC_LOG:
            if data.get("name") != TAP_NAME:  # our own records were printed when they were made
                print_remote(data)
            return
        name = str(data.get("name", ""))
        if topic == TOPIC_JOIN:
            self._reception.on_join(
                data,
                session=self.session_id,
                phases=self.phases,
                taken=[TAP_NAME, *self.children],
                stopping=self.stopping,
                publish=self._publish_quietly,
            )
            return
        if topic == TOPIC_BYE:
            self._reception.on_bye(name)
        with self._cond:
            if topic == TOPIC_RECORDER_PROGRESS:
                self._recorder_progress = data
                return
            child = self.children.get(name)
            if topic == TOPIC_READY and child is not None:
                child.ready = True
            elif topic == TOPIC_DONE and str(data.get("phase")) in self._done:
                self._done[str(data["phase"])].add(name)
            elif topic == TOPIC_BYE:
                self._byes.add(name)
            self._cond.notify_all()

    def _publish_quietly(self, topic: str, data: dict[str, Any]) -> None:
        main = self._main
        if main is not None:
            with contextlib.suppress(Exception):  # closed at shutdown
                main.publish(topic, data)

    def _exited(self, child: Child, code: int) -> None:
        """Record an exit (from the supervisor or from ``_reap``); a process that did not say bye is
        announced on ``Ether.exited`` so the recorder stops waiting for it."""
        with self._cond:
            if child.exit_code is not None:
                return
            child.exit_code = code
            child.history.append(code)
            if child.name not in self._byes:
                self._unreported.append({"name": child.name, "code": code})
            self._cond.notify_all()

    def _watch(self, client: FabricClient) -> None:
        now = time.monotonic()
        with self._cond:
            reports, self._unreported = self._unreported, []
        for report in reports:
            with contextlib.suppress(Exception):
                client.publish(TOPIC_EXITED, report)
        for child in list(self.children.values()):
            proc = child.proc
            if proc is None:
                continue
            if child.exit_code is None:
                code = proc.poll()
                if code is None:
                    continue
                self._exited(child, code)
                if self.stopping and code == 0:
                    continue
                if self.stopping:
                    log.warning("%s (PID %d) exited with code %d during shutdown", child.name, proc.pid, code)
                    continue
                log.error("%s (PID %d) exited unexpectedly with exit code %d", child.name, proc.pid, code)
                self.failures.append((child.name, code))
                pol = child.restart
                wanted = pol.policy == "always" or (pol.policy == "on-failure" and code != 0)
                if wanted and child.restarts < pol.max_restarts:
                    child.restart_at = now + pol.backoff_s * (2**child.restarts)
                elif wanted:
                    log.error(
                        "%s: not restarting, it already restarted %d times (restart.max_restarts)",
                        child.name,
                        child.restarts,
                    )
            elif child.restart_at is not None and now >= child.restart_at and not self.stopping:
                child.restarts += 1
                log.info(
                    "restarting %s (restart %d of %d)", child.name, child.restarts, child.restart.max_restarts
                )
                self._spawn(child)
