"""The local engine: every child is a process of this machine, forked from the tap process when that is safe,
else a fresh interpreter (``ether_medium/fabric/process.py``). Placement is ignored."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

from ether_medium.fabric.process import ChildProcess, can_fork, fork_child, spawn_child

if TYPE_CHECKING:
    import zmq

    from ether_medium.fabric.broker import TcpListener
    from ether_medium.fabric.curve import KeyAuthenticator
    from ether_medium.fabric.supervisor import Child

__all__ = ["LocalEngine", "child_pythonpath"]


def child_pythonpath() -> str:
    """``PYTHONPATH`` for a fresh child interpreter: this process's ``sys.path`` (the directories that exist)
    with the working directory first, so the class paths of the config import as they do here."""
    paths = [p for p in sys.path if p and os.path.isdir(p)]
    if os.getcwd() not in paths:
        paths.insert(0, os.getcwd())
    return os.pathsep.join(paths)


class LocalEngine:
    name = "local"

    def open(self, session_id: str, listener: TcpListener | None) -> TcpListener | None:
        return listener

    def authenticate(
        self, context: zmq.Context[Any], auth: KeyAuthenticator | None
    ) -> KeyAuthenticator | None:
        return auth

    def start(self, child: Child, env: dict[str, str]) -> ChildProcess:
        if can_fork():
            from ether_medium.fabric.child import run_child

            spec = json.loads(env["ETHER_CHILD"])
            return fork_child(lambda: run_child(spec, env))
        return spawn_child({**os.environ, **env, "PYTHONPATH": child_pythonpath()})

    def close(self) -> None:
        pass
