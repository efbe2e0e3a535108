"""The launcher: what ``ether.tap`` / ``start`` / ``shutdown`` do in the tap process.

``tap`` starts the broker (a thread of this process), then the processes the config asks for
(:mod:`~ether_medium.fabric.plan`): the recorder (if ``recording:``), and waits until it is ready, then every
instance and bridge process at once (``python -m ether_medium.fabric.child``, no fork of a process that holds
a ZeroMQ context), and waits until each has handshaken with the broker and announced ``Ether.ready`` (so none
misses the first message after ``start``). A supervisor thread (:mod:`~ether_medium.fabric.supervisor`) prints
the children's ``Ether.log`` records, collects lifecycle acknowledgements and watches the processes: one that
exits unexpectedly is logged with its name and exit code, ``Ether.exited`` is published for it, and it is
restarted when its ``restart:`` policy says so; the recorder always is
(:data:`~ether_medium.fabric.plan.RECORDER_RESTART`), and the new one continues the same session.

``shutdown``: ``Ether.save`` (wait for every instance's ``Ether.done``), ``Ether.cleanup`` (same), then
``Ether.shutdown`` and this process's ``Ether.bye``; wait for instances and bridges to exit, then the
recorder, as long as its progress reports (``Ether.recorder.progress``) show it committing a backlog (see
:meth:`Launcher._reap_recorder`); stragglers are stopped by PID (SIGTERM, then SIGKILL). Returns when every
child and socket is gone.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import zmq

from ether_medium import topics
from ether_medium.config import EtherConfig
from ether_medium.errors import LaunchError
from ether_medium.fabric import shm
from ether_medium.fabric.broker import Broker, BrokerAddresses
from ether_medium.fabric.client import FabricClient
from ether_medium.fabric.engines import engine_for
from ether_medium.fabric.health import HealthLog, RunReport, record_health
from ether_medium.fabric.plan import plan_children, service_specs
from ether_medium.fabric.remote import (
    Reception,
    describe_listener,
    start_authenticator,
    tcp_listener,
)
from ether_medium.fabric.service import ServiceSpec
from ether_medium.fabric.statefile import remove_state, write_state
from ether_medium.fabric.supervisor import TAP_NAME, Child, Supervision
from ether_medium.logs import FabricLogHandler, get_logger
from ether_medium.problems import ProblemLog

if TYPE_CHECKING:
    from ether_medium.fabric.curve import KeyAuthenticator

__all__ = ["TAP_NAME", "Launcher"]

log = get_logger()

class Launcher(Supervision):

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
        self._inline_arrays: Callable[[], None] | None = None  # undoes shm.inline_only()
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
        self.health_log = HealthLog(list(config.devices))
        self.report: RunReport | None = None  # set by shutdown: the run's summary
        self._tapped_at = time.monotonic()
        self.sup_problems = ProblemLog(log, "supervisor", interval_s=10.0)
        self.engine = engine_for(config, self.health_log)  # where children run (fabric/engines/)

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
    def _env(self, child: Child) -> dict[str, str]:
        env = self.addresses.as_env()
        spec = dict(
            child.spec,
            catch_up=[p for p in ("init", "start") if p in self.phases],
            listening=self._sup_live.is_set(),
        )
        env["ETHER_CHILD"] = json.dumps(spec, default=str)
        env["ETHER_SESSION"] = self.session_id
        env["ETHER_NAME"] = child.name
        env["ETHER_LOG_LEVEL"] = logging.getLevelName(log.getEffectiveLevel())
        env[shm.LEFT_TO_LAUNCHER] = "1"
        return env

    def _spawn(self, child: Child) -> None:
        child.ready = False
        child.exit_code = None
        child.restart_at = None
        child.started_at = time.monotonic()
        child.proc = self.engine.start(child, self._env(child))

    def _wait_ready(self, names: list[str], timeout: float) -> None:
        """Call the roll (``Ether.rollcall``, every 20 ms) until every child in ``names`` answered."""
        assert self._main is not None
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                self._main.publish(topics.ROLLCALL, {})
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
    def tap(self, ready_timeout: float = 30.0) -> None:
        recorder, services = service_specs(self.config, self.extra_services)
        try:
            configured = tcp_listener(self.config.fabric)  # key files are read before anything starts
        except ValueError as exc:
            raise LaunchError(f"config {self.config.source}: {exc}") from exc
        log.info("Starting Ether session: %s...", self.session_id)
        shm.remove_stale()  # array segments of processes killed in an earlier session
        self._dir = tempfile.TemporaryDirectory(prefix="ether-")
        self._addresses = BrokerAddresses(f"ipc://{self._dir.name}/pub", f"ipc://{self._dir.name}/sub")
        try:
            listener = self.engine.open(self.session_id, configured)  # a cluster engine connects here
            if listener is not None:  # machines joining over TCP cannot read this one's shared memory
                self._inline_arrays = shm.inline_only()
            self.children.update(plan_children(self.config, self.session_id, recorder, services))
            # Fork every child before this process holds a ZeroMQ context or a thread (see process.py). The
            # recorder comes first; it is ready before Ether.init, so it sees everything from then on.
            for child in self.children.values():
                self._spawn(child)
            # The fabric's own context (not zmq.Context.instance(), which belongs to the user), created after
            # the children were forked and destroyed at shutdown.
            self._ctx = zmq.Context()
            configured_auth = start_authenticator(self.config.fabric, self._ctx)
            self._auth = self.engine.authenticate(self._ctx, configured_auth)
            self.broker = Broker(self._addresses, self._ctx, listener)
            try:
                self.broker.start()
            except RuntimeError as exc:
                hint = " (is another session using fabric.port?)" if listener is not None else ""
                raise LaunchError(f"config {self.config.source}: {exc}{hint}") from exc
            if configured is not None:
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
            self._fabric_file = write_state(self.session_id, self.addresses.as_env())
        except BaseException:
            self._teardown()
            raise

    def start(self) -> None:
        assert self._main is not None
        self.started = True
        self.phases.append("start")
        self._main.publish(topics.START, {})
        log.info("Ether system started successfully")

    def _live_instances(self) -> list[str]:
        return [
            c.name
            for c in self.children.values()
            if c.kind == "instance" and c.proc is not None and c.exit_code is None
        ]

    def _phase(self, phase: str, deadline: float, limits: dict[str, float] | None = None) -> None:
        """Publish ``Ether.<phase>`` and wait for every live instance's ``Ether.done``: until ``deadline``
        (then log who is late and go on), or, with ``limits`` (seconds per instance name), until each
        instance's own deadline; an instance past its own is hung and is stopped alone, so the others' phases
        still run (see docs/architecture.md, "Shutdown")."""
        assert self._main is not None
        self.phases.append(phase)
        start = time.monotonic()
        self._main.publish(f"Ether.{phase}", {})

        def own_deadline(name: str) -> float:
            return deadline if limits is None else start + limits.get(name, deadline - start)

        while True:
            with self._cond:
                missing = [n for n in self._live_instances() if n not in self._done[phase]]
                if not missing:
                    return
                now = time.monotonic()
                late = [n for n in missing if now >= own_deadline(n)]
                if not late:
                    self._cond.wait(min(min(own_deadline(n) for n in missing) - now, 0.05))
                    continue
            log.warning("%s handlers not finished in time by: %s", phase, ", ".join(late))
            if limits is None:
                return
            for name in late:
                self._stop_hung(self.children[name], phase, limits[name])

    def _stop_hung(self, child: Child, phase: str, limit_s: float) -> None:
        """Stop an instance whose ``phase`` handlers outlived its own deadline, alone (the others go on)."""
        proc = child.proc
        if proc is None or child.exit_code is not None:
            return
        log.error(
            "%s (PID %d): %s handlers still running after %.1f s (instances.%s.%s_timeout_s); stopping it "
            "alone so the other instances' handlers run",
            child.name, proc.pid, phase, limit_s, child.name, phase,
        )
        code = self._stop(child)
        self.failures.append((child.name, code))

    def shutdown(self, timeout: float = 10.0) -> RunReport:
        """Save, cleanup, shutdown (see docs/architecture.md, "Shutdown"). Each instance has its own save and
        cleanup deadline: its ``save_timeout_s`` / ``cleanup_timeout_s``, at most ``timeout``, counted from
        the start of the phase; after ``Ether.shutdown`` the processes have ``timeout`` to exit. Returns the
        run's report (what went wrong, for the summary and the session record)."""
        log.info("Shutting down Ether session: %s...", self.session_id)
        dead = self._dead_at_stop()
        self.stopping = True
        try:
            for phase in ("save", "cleanup"):
                limits = {name: min(timeout, getattr(inst, f"{phase}_timeout_s"))
                          for name, inst in self.config.instances.items()}
                self._phase(phase, time.monotonic() + timeout, limits)
            assert self._main is not None
            self._main.publish(topics.SHUTDOWN, {})
            self._main.close(bye=True)
            deadline = time.monotonic() + timeout
            recorder = self.children.get("recorder")
            others = [c for c in self.children.values() if c is not recorder]
            self._reap(others, deadline)
            self._await_byes([c.name for c in others if c.exit_code == 0], 1.0)
            if recorder is not None:
                self._reap_recorder(recorder, deadline)
        finally:
            self._teardown()
        log.info("Ether system shutdown complete")
        rec = self.config.recording
        return self._finish(dead, rec.path if rec is not None and rec.enabled else None)

    def _dead_at_stop(self) -> set[str]:
        """The children not running when the shutdown begins (a crash with a restart pending counts)."""
        with self._cond:
            return {c.name for c in self.children.values() if c.exit_code is not None}

    def _finish(self, dead: set[str], recording: str | None) -> RunReport:
        """The run's report; with ``recording`` (the database), its health written into the session."""
        exits = []
        for child in self.children.values():
            codes = [code for name, code in self.failures if name == child.name]
            exits.append((child.name, codes, child.restarts, bool(codes) and child.name in dead))
        health = self.health_log.summary(exits)
        crashed = {name for name, _ in self.failures}
        for child in self.children.values():
            last = child.history[-1] if child.history else None
            if last not in (None, 0) and not (child.name in dead and child.name in crashed):
                health.shutdown_exits.append({"name": child.name, "code": last})
        recorded = None if recording is None else record_health(recording, self.session_id, health)
        self.report = RunReport(self.session_id, time.monotonic() - self._tapped_at, health, recorded)
        if self.config.fabric.join is not None:
            main = self.config.fabric.join
            self.report.unrecorded = f"recorded (if at all) by the session's main machine ({main})"
        return self.report

    def _teardown(self) -> None:
        self.stopping = True
        shm.remove_stale()  # the ended children's array segments, now that the recorder has read them
        if self._inline_arrays is not None:
            self._inline_arrays()
            self._inline_arrays = None
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
            remove_state(self._fabric_file)
            self._fabric_file = None
        self.engine.close()
