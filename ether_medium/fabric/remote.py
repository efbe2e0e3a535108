"""Several machines, the main session's side: the broker's TCP endpoints and the welcome of joining machines.

With ``fabric: {transport: tcp, host, port, curve: {key, authorized}}`` the main session's broker listens on
``tcp://host:port`` (publishers) and ``port+1`` (subscribers) besides its local ``ipc://`` endpoints (the
main machine's own processes keep using those). :func:`tcp_listener` loads the server keys before anything
starts; :func:`start_authenticator` starts the ZAP handler that admits the keys in ``curve.authorized``.

A joining machine (:mod:`ether_medium.fabric.joiner`) publishes ``Ether.join`` ``{name, host, pid, names}``
until
the main session's supervisor answers on ``Ether.welcome.<name>`` with ``{session, phases, error}``
(:class:`Reception`): the session id, the lifecycle phases passed so far (its instances catch up on init and
start), or why it may not join (a process name that is taken, a session that is shutting down).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from ether_medium.config import FabricConfig
from ether_medium.fabric.broker import TcpListener

if TYPE_CHECKING:
    import zmq

    from ether_medium.fabric.curve import KeyAuthenticator

__all__ = ["Reception", "start_authenticator", "tcp_endpoint", "tcp_listener", "welcome_topic"]

log = logging.getLogger("ether")



def welcome_topic(name: str) -> str:
    """The topic on which the main session answers the joining launcher ``name``."""
    return f"Ether.welcome.{name}"


def tcp_endpoint(host: str, port: int) -> str:
    """``tcp://host:port`` (an IPv6 address in brackets)."""
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"


def tcp_listener(fabric: FabricConfig) -> TcpListener | None:
    """The broker's TCP endpoints for ``fabric: {transport: tcp}`` (``None`` for ``ipc``), with the server
    keys loaded. Raises :class:`ether_medium.fabric.curve.KeyFileError` for a key file that cannot be used."""
    if fabric.transport != "tcp" or fabric.join is not None:
        return None
    publish, subscribe = tcp_endpoint(fabric.host, fabric.port), tcp_endpoint(fabric.host, fabric.port + 1)
    if fabric.curve is None:
        return TcpListener(publish, subscribe)
    from ether_medium.fabric.curve import load_key_pair

    public, secret = load_key_pair(os.path.abspath(fabric.curve.key))
    return TcpListener(publish, subscribe, public, secret)


def start_authenticator(fabric: FabricConfig, context: zmq.Context[Any]) -> KeyAuthenticator | None:
    """Start the ZAP handler for a CURVE listener in the broker's ``context`` (before the broker binds)."""
    if fabric.transport != "tcp" or fabric.curve is None or fabric.curve.authorized is None:
        return None
    from ether_medium.fabric.curve import KeyAuthenticator

    auth = KeyAuthenticator(context, os.path.abspath(fabric.curve.authorized))
    auth.start()
    return auth


def describe_listener(fabric: FabricConfig, auth: KeyAuthenticator | None) -> str:
    """One line for the log: where other machines join, and how they are admitted."""
    where = f"tcp://{fabric.host}:{fabric.port}"
    if auth is None:
        return f"Other processes can join at {where} (loopback, no authentication)"
    keys = f"{auth.authorized_count} authorized keys in {auth.directory}"
    return f"Other machines can join at {where} (CURVE; {keys})"


class Reception:
    """The main launcher's record of the machines that joined (used by its supervisor thread)."""

    def __init__(self) -> None:
        self.machines: dict[str, list[str]] = {}  # joining launcher's name -> the process names it runs

    def on_join(
        self,
        data: dict[str, Any],
        *,
        session: str,
        phases: list[str],
        taken: Collection[str],
        stopping: bool,
        publish: Callable[[str, dict[str, Any]], None],
    ) -> None:
        """Answer an ``Ether.join``; ``taken`` are the main session's own process names."""
        name = str(data.get("name", ""))
        if not name:
            return
        names = [str(n) for n in data.get("names") or []]
        others = {n: m for m, ns in self.machines.items() if m != name for n in ns}
        clash = [n for n in names if n in taken or n in others]
        error = None
        if stopping:
            error = "the session is shutting down"
        elif clash:
            error = (
                f"process names already used in the session: {', '.join(clash)} (names must be unique across "
                "machines; rename them in the joining config)"
            )
        if error is not None:
            log.warning("%s (%s) may not join: %s", name, data.get("host", "?"), error)
        elif name not in self.machines:
            self.machines[name] = names
            log.info(
                "%s joined from %s (PID %s) with %s",
                name,
                data.get("host", "?"),
                data.get("pid", "?"),
                ", ".join(names) or "no processes",
            )
        publish(welcome_topic(name), {"session": session, "phases": list(phases), "error": error})

    def on_bye(self, name: str) -> None:
        if self.machines.pop(name, None) is not None:
            log.info("%s left the session", name)
