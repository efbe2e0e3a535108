"""Watching the processes of a session: their exits, restarts by policy, and their reaping at shutdown.

:class:`Supervision` is the launcher's supervisor thread (mixed into :class:`~ether_medium.fabric.launcher.
Launcher`): it receives the fabric's presence and lifecycle topics (``SUPERVISED``), prints the children's
``Ether.log`` records, and polls every child process. One that exits unexpectedly is logged with its name and
exit code, announced on ``Ether.exited`` (so the recorder stops waiting for its bye) and restarted when its
``restart:`` policy says so, with exponential backoff, up to ``max_restarts``. At shutdown :meth:`_reap` waits
for children until a deadline and then stops them by PID (SIGTERM, then SIGKILL); the recorder is given
longer while it reports progress (:meth:`_reap_recorder`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ether_medium import topics
from ether_medium.config import EtherConfig, PlacementConfig, RestartPolicy
from ether_medium.errors import EnvelopeError
from ether_medium.fabric import shm
from ether_medium.fabric.client import FabricClient
from ether_medium.fabric.process import ChildProcess, stop_process
from ether_medium.logs import get_logger, print_remote, print_stdout
from ether_medium.problems import ProblemLog, kind_of

if TYPE_CHECKING:
    import zmq

    from ether_medium.fabric.broker import BrokerAddresses
    from ether_medium.fabric.envelope import Envelope
    from ether_medium.fabric.health import HealthLog
    from ether_medium.fabric.remote import Reception

__all__ = ["TAP_NAME", "Child", "Supervision", "restart_policy"]

log = get_logger()

TAP_NAME = "ether"  # the tap process's name on the fabric
_BACKOFF_MAX_S = 30.0  # restarts wait backoff_s, then twice as long each time, up to this


def restart_policy(value: str | RestartPolicy) -> RestartPolicy:
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
    placement: PlacementConfig | None = None  # on a cluster; None: on the tap process's machine
    where: str = ""  # the node it runs on, as the engine names it ("" for this machine)


class Supervision:
    """The supervisor thread's half of the launcher (see the module docstring)."""

    # what the supervisor thread receives (see _on_message)
    SUPERVISED: tuple[str, ...] = (
        topics.LOG, topics.READY, topics.DONE, topics.BYE, topics.JOIN, topics.RECORDER_PROGRESS,
        topics.HEALTH, topics.DEVICE, topics.STDOUT,
        topics.STATUS,
    )
    recorder_stall_s = 5.0  # at shutdown, stop the recorder after this long without progress...
    recorder_cap_s = 300.0  # ...or this long after it began waiting for it, however it progresses

    # set by the launcher
    config: EtherConfig
    session_id: str
    children: dict[str, Child]
    stopping: bool
    failures: list[tuple[str, int]]
    phases: list[str]
    _cond: threading.Condition
    _done: dict[str, set[str]]
    _byes: set[str]
    _unreported: list[dict[str, Any]]
    _sup: FabricClient | None
    _sup_stop: threading.Event
    _sup_live: threading.Event
    _main: FabricClient | None
    _ctx: zmq.Context[zmq.Socket[bytes]] | None
    _reception: Reception
    _recorder_progress: dict[str, Any]
    health_log: HealthLog
    sup_problems: ProblemLog  # messages the supervisor dropped, counted by kind

    @property
    def addresses(self) -> BrokerAddresses:
        raise NotImplementedError

    def _spawn(self, child: Child) -> None:
        raise NotImplementedError

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
            self._stop(child)

    def _stop(self, child: Child) -> int:
        """Stop ``child``'s process by its PID (SIGTERM, SIGKILL after 0.5 s) unless it exited; record the
        exit and return its code."""
        assert child.proc is not None
        code = stop_process(child.proc, 0.5)
        self._exited(child, code)
        return code

    def _await_byes(self, names: list[str], timeout: float) -> None:
        """Wait (up to ``timeout``) until the supervisor thread has seen ``Ether.bye`` of each of ``names``:
        then it has also seen everything they published before (their last ``Ether.health``)."""
        end = time.monotonic() + timeout
        with self._cond:
            while (left := end - time.monotonic()) > 0 and not self._byes.issuperset(names):
                self._cond.wait(min(left, 0.05))

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
                self._receive(client, 0.02)
                self._watch(client)
        finally:
            client.close(bye=False)
            self._sup = None

    def _receive(self, client: FabricClient, timeout: float) -> None:
        """Take one message (waiting up to ``timeout``) and act on it."""
        try:
            env = client.recv(timeout)
        except EnvelopeError as exc:
            self.sup_problems.report(kind_of(str(exc)), f"dropped a malformed fabric message: {exc}",
                                     logging.ERROR)
            return
        if env is not None and env.topic == topics.STATUS:
            self._answer_status(client, env.reply_to, env.request_id)
        elif env is not None:
            self._dispatch(env)

    def _settle(self, client: FabricClient, child: Child, limit_s: float = 0.5) -> None:
        """Before a clean exit (code 0) is judged: take in what is already on its way, the child's own
        ``Ether.bye`` or the session's ``Ether.shutdown`` (a process can exit before the supervisor has read
        the message that told it to), for at most ``limit_s``."""
        deadline = time.monotonic() + limit_s
        while not self.stopping and child.name not in self._byes and time.monotonic() < deadline:
            self._receive(client, 0.01)

    def _dispatch(self, env: Envelope) -> None:
        """:meth:`_on_message`, for any envelope: one whose values cannot be used (a log level of Infinity,
        a name beyond the integer digit limit, ...) is counted, logged (rate-limited) and dropped."""
        try:
            self._on_message(env.topic, env.data)
        except Exception as exc:
            why = f"dropped a message on {env.topic!r}: {type(exc).__name__}: {exc}"
            self.sup_problems.report(f"unusable {env.topic}", why, logging.ERROR)

    def _on_message(self, topic: str, data: dict[str, Any]) -> None:
        if topic == topics.LOG:
            if data.get("name") != TAP_NAME:  # our own records were printed when they were made
                print_remote(data)
            return
        if topic == topics.HEALTH:
            self.health_log.on_report(data)
            return
        if topic == topics.STDOUT:
            print_stdout(data)
            return
        if topic == topics.DEVICE:
            self.health_log.on_device(data)
            return
        name = str(data.get("name", ""))
        if topic == topics.JOIN:
            self._reception.on_join(
                data,
                session=self.session_id,
                phases=self.phases,
                taken=[TAP_NAME, *self.children],
                stopping=self.stopping,
                publish=self._publish_quietly,
            )
            return
        if topic == topics.BYE:
            self._reception.on_bye(name)
        with self._cond:
            if topic == topics.RECORDER_PROGRESS:
                self._recorder_progress = data
                return
            child = self.children.get(name)
            if topic == topics.READY and child is not None:
                child.ready = True
            elif topic == topics.DONE and str(data.get("phase")) in self._done:
                self._done[str(data["phase"])].add(name)
            elif topic == topics.BYE:
                self._byes.add(name)
            self._cond.notify_all()

    def _answer_status(self, client: FabricClient, reply_to: str | None, request_id: int | None) -> None:
        """``Ether.status``: every child's pid, state and restarts (``ether status``, the metrics)."""
        if reply_to is None:
            return
        now = time.monotonic()
        with self._cond:
            children = [
                {
                    "name": c.name,
                    "kind": c.kind,
                    "pid": c.proc.pid if c.proc is not None else None,
                    "state": "running" if c.exit_code is None and c.ready else
                    "starting" if c.exit_code is None else
                    "restarting" if c.restart_at is not None else f"exited ({c.exit_code})",
                    "restarts": c.restarts,
                    "up_s": now - c.started_at if c.exit_code is None else None,
                    **({"node": c.where} if c.where else {}),  # where a cluster engine placed it
                }
                for c in self.children.values()
            ]
            value = {"session": self.session_id, "pid": os.getpid(), "phases": list(self.phases),
                     "config": self.config.source, "cwd": os.getcwd(),
                     "stopping": self.stopping, "children": children,
                     "recorder": dict(self._recorder_progress)}
        with contextlib.suppress(Exception):  # closed at shutdown
            client.publish(reply_to, {"value": value}, request_id=request_id)

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
            if child.proc is not None and not self.stopping:  # shutting down: the launcher removes them after
                shm.remove_stale(child.proc.pid)  # the recorder drained; arrays it published in shared memory
            if child.name not in self._byes:
                self._unreported.append({"name": child.name, "code": code})
            self._cond.notify_all()

    def _watch(self, client: FabricClient) -> None:
        now = time.monotonic()
        with self._cond:
            reports, self._unreported = self._unreported, []
        for report in reports:
            with contextlib.suppress(Exception):
                client.publish(topics.EXITED, report)
        for child in list(self.children.values()):
            proc = child.proc
            if proc is None:
                continue
            if child.exit_code is None:
                code = proc.poll()
                if code is None:
                    continue
                if code == 0:
                    self._settle(client, child)
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
                    child.restart_at = now + min(pol.backoff_s * (2**child.restarts), _BACKOFF_MAX_S)
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
