"""Engines: where the launcher's child processes run (``cluster.engine``, ``ETHER_ENGINE``).

An engine does three things for the launcher, and nothing else:

* :meth:`Engine.open` before the first child starts (Ray: connect to the cluster) and say which TCP
  endpoints the broker must bind besides its ``ipc://`` ones (the Ray engine adds its own, with CURVE keys
  made in memory, when processes may run on other machines);
* :meth:`Engine.start`: start one child where its placement says and return a handle with the
  :class:`~ether_medium.fabric.process.ChildProcess` subset the supervisor watches (``pid``, ``poll``,
  ``wait``, ``terminate``, ``kill``): alive, exit code, stop;
* :meth:`Engine.close` after every child is gone.

The supervisor (exits, restarts by ``restart:``, reaping) and the lifecycle over the fabric are the same for
every engine. :func:`engine_for` picks one from the config; ``local`` (the default) never imports Ray. Adding
a third engine (Dask, say) is one module with a class of these methods and one line in :func:`engine_for`
(docs/cluster.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import zmq

    from ether_medium.config import EtherConfig
    from ether_medium.fabric.broker import TcpListener
    from ether_medium.fabric.curve import KeyAuthenticator
    from ether_medium.fabric.health import HealthLog
    from ether_medium.fabric.process import ChildProcess
    from ether_medium.fabric.supervisor import Child

__all__ = ["Engine", "engine_for"]


class Engine(Protocol):
    name: str

    def open(self, session_id: str, listener: TcpListener | None) -> TcpListener | None:
        """Get ready to start children; return the TCP endpoints the broker binds (``listener``, the
        config's, or the engine's own)."""
        ...

    def authenticate(
        self, context: zmq.Context[Any], auth: KeyAuthenticator | None
    ) -> KeyAuthenticator | None:
        """Admit the engine's own CURVE client key (if any) in the broker's ``context``; returns the
        authenticator to stop at the end (``auth``, or one the engine started)."""
        ...

    def start(self, child: Child, env: dict[str, str]) -> ChildProcess:
        """Start ``child`` (its spec is ``env["ETHER_CHILD"]``; ``env`` also holds the broker's addresses)
        where ``child.placement`` says; set ``child.where``."""
        ...

    def close(self) -> None:
        """Every child is gone: release what :meth:`open` took."""
        ...


def engine_for(config: EtherConfig, health: HealthLog) -> Engine:
    """The engine of ``config.cluster`` (local processes without one); ``health`` is the run's health record
    (a cluster engine adds processes lost with their node)."""
    cluster = config.cluster
    if cluster is None or cluster.engine == "local":
        from ether_medium.fabric.engines.local import LocalEngine

        return LocalEngine()
    from ether_medium.fabric.engines.ray import RayEngine  # imports ray; LaunchError if it is missing

    return RayEngine(config, health)
