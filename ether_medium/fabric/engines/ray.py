"""The Ray engine (``cluster: {engine: ray}``): each child is a process started by a Ray actor on the node its
placement chooses.

Ray places and supervises; messages never travel through Ray. An actor (:class:`ChildHost`, reserving what
``placement.resources`` says) starts the same child runtime as the local engine's spawn
(``python -m ether_medium.fabric.child``) on its node and reports its exit code. The child reaches the broker

* over the local ``ipc://`` path when it runs on the tap process's machine (same host name, the socket file is
  there), unless ``cluster.local_ipc`` is false;
* else over TCP: the config's ``fabric: {transport: tcp}`` listener, or one this engine adds on the node's
  address with a CURVE key pair made in memory for this session. The client key pair travels to the actor as
  an argument of its method call (Ray's RPC, in memory) and into the child's environment; it is never written
  to a file.

The child's ``print`` output travels over the fabric (``Ether.stdout``, see :class:`ether_medium.logs.
FabricStdout`), so the tap process prints it whichever machine it ran on, and all of it before ``shutdown``
returns. Restarts are the supervisor's (``restart:``): Ray never restarts an actor (``max_restarts=0``); a
crash, or a node lost (the actor died: exit code :data:`NODE_LOST`, logged with the node), is an exit like
any other, and the restarted child's new actor is placed again (elsewhere, when its placement allows).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from typing import TYPE_CHECKING, Any

import zmq

from ether_medium.errors import LaunchError
from ether_medium.fabric.broker import TcpListener
from ether_medium.fabric.curve import KeyAuthenticator
from ether_medium.fabric.remote import tcp_endpoint
from ether_medium.logs import get_logger

try:
    import ray
    from ray.exceptions import RayActorError, RayError
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise LaunchError(
        "cluster.engine is ray, but Ray is not installed here: pip install 'ether-medium[ray]' "
        "(on every machine of the cluster), or remove the cluster: section (ETHER_ENGINE=local)"
    ) from exc

if TYPE_CHECKING:
    from ether_medium.config import EtherConfig, PlacementConfig
    from ether_medium.fabric.health import HealthLog
    from ether_medium.fabric.supervisor import Child

__all__ = ["NODE_LOST", "ChildHost", "RayChild", "RayEngine"]

log = get_logger()

NODE_LOST = -1  # the exit code recorded for a child whose actor died with its node (or was killed by Ray)
_CHILD = [sys.executable, "-m", "ether_medium.fabric.child"]


@ray.remote(num_cpus=0, max_restarts=0, max_concurrency=4)  # type: ignore[call-overload]
class ChildHost:
    """Runs one child process on its node (methods run in the actor's threads: ``wait`` blocks)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._started = threading.Event()  # methods run in several threads: wait() may come before start()

    def start(self, env: dict[str, str], remote: dict[str, str], tap: dict[str, Any]) -> dict[str, Any]:
        """Start the child: ``env`` has its spec and the local (ipc) addresses, ``remote`` the TCP ones (and
        the CURVE keys), ``tap`` where the tap process runs (``host``, ``cwd``, ``nice``, ``local_ipc``)."""
        ipc = env["ETHER_PUBLISH"].removeprefix("ipc://")
        local = tap["local_ipc"] and socket.gethostname() == tap["host"] and os.path.exists(ipc)
        full = dict(os.environ, **env)
        if not local:
            full.update(remote)
        paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if os.path.isdir(p)]
        full["PYTHONPATH"] = os.pathsep.join(paths)
        node = ray.get_runtime_context().get_node_id()
        full["ETHER_NODE"] = f"{socket.gethostname()} (Ray node {node[:12]})"
        try:
            cwd = tap["cwd"] if os.path.isdir(tap["cwd"]) else None
            self._proc = subprocess.Popen(_CHILD, env=full, cwd=cwd)
            # Ray runs its workers at niceness 15 (worker_niceness): the child runs as the tap process does
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, self._proc.pid, tap["nice"])
        finally:
            self._started.set()
        return {
            "nice": os.getpriority(os.PRIO_PROCESS, self._proc.pid),
            "pid": self._proc.pid,
            "node": node,
            "host": socket.gethostname(),
            "path": "ipc" if local else "tcp",
        }

    def wait(self) -> int:
        self._started.wait()
        if self._proc is None:
            raise RuntimeError("the child process could not be started (see the start call's error)")
        return self._proc.wait()

    def signal(self, sig: int) -> None:
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(sig)


class RayChild:
    """The launcher's handle on a child run by a :class:`ChildHost` (the supervisor's ``ChildProcess``)."""

    warned_nice = False  # the niceness warning is given once per process

    def __init__(self, child: Child, actor: Any, started: Any, health: HealthLog) -> None:
        self.child = child
        self.health = health
        self.name = child.name
        self._actor = actor
        self._started = started
        self._exit = actor.wait.remote()
        self._info: dict[str, Any] = {}
        self._returncode: int | None = None

    def info(self, timeout: float = 0.0) -> dict[str, Any]:
        """Where it runs (``pid``, ``node``, ``host``, ``path``), once its actor started it."""
        if not self._info:
            ready, _ = ray.wait([self._started], timeout=timeout)
            if ready:
                with contextlib.suppress(RayError):
                    self._info = ray.get(self._started)
                    where = self._info
                    self.child.where = f"{where['host']} (Ray node {where['node'][:12]}, {where['path']})"
                    log.debug("%s (PID %d) runs on %s", self.name, where["pid"], self.child.where)
                    if where["nice"] > os.getpriority(os.PRIO_PROCESS, 0) and not RayChild.warned_nice:
                        RayChild.warned_nice = True
                        log.warning(
                            "%s runs at niceness %d (Ray's worker_niceness; this process: %d), so it is "
                            "slower on a busy machine: start Ray with RAY_worker_niceness=0 in the "
                            "environment of ray start", self.name, where["nice"],
                            os.getpriority(os.PRIO_PROCESS, 0),
                        )  # fmt: skip
        return self._info

    @property
    def pid(self) -> int:
        return int(self.info().get("pid", 0))

    @property
    def returncode(self) -> int | None:
        return self._returncode

    def poll(self) -> int | None:
        if self._returncode is None:
            self.info()
            ready, _ = ray.wait([self._exit], timeout=0)
            if ready:
                self._finish()
        return self._returncode

    def _finish(self) -> None:
        try:
            code = int(ray.get(self._exit))
        except RayActorError as exc:
            code = NODE_LOST
            where = self.child.where or "(not started yet)"
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            log.error(
                "%s: its Ray actor died (node %s lost, or the actor was killed); recording exit code %d: %s",
                self.name, where, code, reason,
            )  # fmt: skip
            self.health.on_lost(self.name, where, reason, self._info.get("node"))
        except RayError as exc:
            code = NODE_LOST
            log.error("%s: Ray could not run it: %s", self.name, exc)
        self._returncode = code
        self.release()

    def release(self) -> None:
        """Kill the actor (its child is gone, or the session ends): its worker and resources are freed."""
        with contextlib.suppress(Exception):
            ray.kill(self._actor, no_restart=True)

    def wait(self, timeout: float | None = None) -> int:
        if self._returncode is None:
            ready, _ = ray.wait([self._exit], timeout=timeout)
            if not ready:
                raise subprocess.TimeoutExpired(f"{self.name} (Ray actor)", timeout or 0.0)
            self._finish()
        assert self._returncode is not None
        return self._returncode

    def terminate(self) -> None:
        if self._returncode is None:
            self._actor.signal.remote(signal.SIGTERM)

    def kill(self) -> None:
        if self._returncode is None:
            self._actor.signal.remote(signal.SIGKILL)


def _free_port_pair(host: str) -> int:
    """A port ``p`` with ``p`` and ``p + 1`` free on ``host`` (the broker binds them next)."""
    for _ in range(50):
        with socket.socket() as first, socket.socket() as second:
            first.bind((host, 0))
            port = int(first.getsockname()[1])
            if port >= 65535:
                continue
            try:
                second.bind((host, port + 1))
            except OSError:
                continue
            return port
    raise LaunchError(f"found no two consecutive free TCP ports on {host} for the broker")


def _alive_nodes(lost: set[str]) -> set[str]:
    alive = {str(n["NodeID"]) for n in ray.nodes() if n.get("Alive")}  # type: ignore[no-untyped-call]
    return alive - lost  # Ray may list a node as alive for a while after its processes died


def strategy(placement: PlacementConfig | None, tap_node: str, lost: set[str] | None = None) -> Any:
    """Ray's scheduling strategy for ``placement`` (``None``: the tap process's node); ``lost``: the node ids
    whose processes died with them in this session."""
    if placement is None:
        return NodeAffinitySchedulingStrategy(tap_node, soft=False)
    if placement.node_id is not None:
        if placement.soft and placement.node_id not in _alive_nodes(lost or set()):
            return "DEFAULT"  # its node is gone: anywhere
        # soft: that node while it is alive (Ray's own soft affinity may pick another node even then)
        return NodeAffinitySchedulingStrategy(placement.node_id, soft=False)
    return "DEFAULT"  # labels: actor_options (label_selector)


def actor_options(placement: PlacementConfig | None, tap_node: str, lost: set[str]) -> dict[str, Any]:
    """``ChildHost.options(...)`` for ``placement``: resources and scheduling strategy."""
    options: dict[str, Any] = {"scheduling_strategy": strategy(placement, tap_node, lost)}
    if placement is not None:
        res = placement.resources
        options["num_cpus"] = res.num_cpus or 0
        for key in ("num_gpus", "memory"):
            if getattr(res, key) is not None:
                options[key] = getattr(res, key)
        if res.custom:
            options["resources"] = dict(res.custom)
        if placement.labels and placement.node_id is None:
            options["label_selector"] = dict(placement.labels)
            if placement.soft:  # those labels if a node has them, else any node
                options["fallback_strategy"] = [{"label_selector": {}}]
    return options


class RayEngine:
    name = "ray"

    def __init__(self, config: EtherConfig, health: HealthLog) -> None:
        assert config.cluster is not None
        self.config = config
        self.health = health
        self.cluster = config.cluster
        self._owned = False  # this engine started (or connected) Ray, so it disconnects at close
        self._tap_node = ""
        self._remote: dict[str, str] = {}
        self._client_public: bytes | None = None
        self._hosts: list[RayChild] = []

    # -- open ------------------------------------------------------------------------------------------
    def open(self, session_id: str, listener: TcpListener | None) -> TcpListener | None:
        self._connect()
        self._tap_node = ray.get_runtime_context().get_node_id()
        self._check_resources()
        if listener is None:
            host = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
            port = _free_port_pair(host)
            server_public, server_secret = zmq.curve_keypair()
            listener = TcpListener(tcp_endpoint(host, port), tcp_endpoint(host, port + 1),
                                   server_public, server_secret)  # fmt: skip
        self._remote = {"ETHER_PUBLISH": listener.publish, "ETHER_SUBSCRIBE": listener.subscribe}
        if listener.server_public is not None:
            public, secret = zmq.curve_keypair()
            self._client_public = public
            parts = (public, secret, listener.server_public)
            self._remote["ETHER_CURVE_KEYS"] = " ".join(p.decode("ascii") for p in parts)
        return listener

    def _connect(self) -> None:
        if ray.is_initialized():  # the caller's Ray (a test's cluster, a notebook): used, left running
            return
        address = self.cluster.address
        kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
        if address == "local":
            kwargs["resources"] = {f"device:{name}": 1.0 for name in self.config.devices}
        try:
            ray.init(address=address, **kwargs)
        except Exception as exc:
            raise LaunchError(
                f"config {self.config.source}: cluster.address {address}: could not connect to Ray: {exc} "
                "(auto needs `ray start` on this machine; local starts one here)"
            ) from exc
        self._owned = True
        nodes = [n for n in ray.nodes() if n.get("Alive")]  # type: ignore[no-untyped-call]
        cpus = ray.cluster_resources().get("CPU", 0)  # type: ignore[no-untyped-call]
        log.info("Ray engine: %s, %d nodes, %s CPUs", address, len(nodes), cpus)

    def _check_resources(self) -> None:
        """A custom resource that no node offers would leave a process waiting forever: refuse to start."""
        offered = ray.cluster_resources()  # type: ignore[no-untyped-call]
        wanted: dict[str, str] = {}
        for name, inst in self.config.instances.items():
            if inst.placement is not None:
                wanted.update({r: f"instances.{name}.placement" for r in inst.placement.resources.custom})
        for name, dev in self.config.devices.items():
            custom = dev.placement.resources.custom if dev.placement is not None else {f"device:{name}": 1}
            wanted.update({r: f"devices.{name}" for r in custom})
        missing = [f"{res} ({where})" for res, where in wanted.items() if res not in offered]
        if missing:
            raise LaunchError(
                f"config {self.config.source}: no node of the Ray cluster offers "
                f"{', '.join(missing)}: start the node that has it with ray start --resources "
                "'{\"RESOURCE\": 1}' (a board's PC: '{\"device:NAME\": 1}'), see docs/cluster.md"
            )

    def authenticate(
        self, context: zmq.Context[Any], auth: KeyAuthenticator | None
    ) -> KeyAuthenticator | None:
        if self._client_public is None:
            return auth
        if auth is None:
            auth = KeyAuthenticator(context, None)  # admits only the key made for this session
            auth.start()
        auth.admit(self._client_public)
        return auth

    # -- children --------------------------------------------------------------------------------------
    def start(self, child: Child, env: dict[str, str]) -> RayChild:
        from ether_medium.fabric.engines.local import child_pythonpath

        env = dict(env, ETHER_STDOUT="fabric", PYTHONPATH=child_pythonpath())
        # the tap process's array settings (inline only: other nodes cannot read this one's shared memory)
        env.update({k: v for k, v in os.environ.items() if k.startswith("ETHER_ARRAYS_")})
        options = actor_options(child.placement, self._tap_node, self.health.lost_nodes())
        actor = ChildHost.options(**options).remote()  # type: ignore[attr-defined]
        tap = {
            "host": socket.gethostname(),
            "cwd": os.getcwd(),
            "nice": os.getpriority(os.PRIO_PROCESS, 0),
            "local_ipc": self.cluster.local_ipc,
        }
        started = actor.start.remote(env, self._remote, tap)
        handle = RayChild(child, actor, started, self.health)
        self._hosts.append(handle)
        child.where = "ray (starting)"
        return handle

    def close(self) -> None:
        for handle in self._hosts:
            handle.release()
        self._hosts.clear()
        if self._owned:
            self._owned = False
            ray.shutdown()
