"""The ``ether`` object: ``ether.tap(config=...)``, ``start()``, ``shutdown()``, ``get(...)``.

One :class:`Ether` per process (``ether_medium.ether``). In the tap process it drives a
:class:`ether_medium.fabric.launcher.Launcher`; in a child process it knows its session and the broker from
the
environment, so ``ether.get`` and ``ether.session_id`` work there too.

Misuse never hangs: ``tap`` twice raises :class:`EtherError`; ``start`` before ``tap`` raises; ``start`` twice
and ``shutdown`` before ``tap`` or twice are no-ops.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ether_medium.config import EtherConfig
from ether_medium.errors import LaunchError
from ether_medium.fabric.broker import BrokerAddresses
from ether_medium.fabric.client import process_client
from ether_medium.fabric.decorators import EtherMethod, set_publish_hook
from ether_medium.fabric.launcher import TAP_NAME, Launcher
from ether_medium.fabric.requests import close_all, requester_for
from ether_medium.fabric.service import ServiceSpec
from ether_medium.logs import console_handler, get_logger
from ether_medium.settings import resolve

if TYPE_CHECKING:
    from ether_medium.bridge.proxy import DeviceProxy
    from ether_medium.fabric.health import RunReport

__all__ = ["Ether", "ether"]

log = get_logger()


class Ether:
    def __init__(self) -> None:
        self._launcher: Launcher | None = None
        self._started = False
        self._lock = threading.RLock()
        self._atexit = False

    # -- state -----------------------------------------------------------------------------------------
    @property
    def session_id(self) -> str | None:
        """The running session's id (uuid4), in the tap process and in every child; ``None`` otherwise."""
        if self._launcher is not None:
            return self._launcher.session_id
        return os.environ.get("ETHER_SESSION")

    @property
    def tapped(self) -> bool:
        return self._launcher is not None

    @property
    def launcher(self) -> Launcher | None:
        return self._launcher

    def _addresses(self) -> tuple[BrokerAddresses, str]:
        if self._launcher is not None:
            return self._launcher.addresses, TAP_NAME
        if "ETHER_PUBLISH" in os.environ:
            return BrokerAddresses.from_env(), os.environ.get("ETHER_NAME", f"pid{os.getpid()}")
        raise LaunchError("no fabric is running in this process: call ether.tap(config=...) first")

    # -- lifecycle -------------------------------------------------------------------------------------
    def tap(
        self,
        config: str | Path | dict[str, Any] | EtherConfig | None = None,
        *,
        services: list[ServiceSpec] | None = None,
        ready_timeout: float = 30.0,
        preflight: bool = True,
    ) -> None:
        """Start the broker and every process of ``config`` (a YAML path, a dict or an :class:`EtherConfig`);
        returns once each of them is connected and subscribed. ``ETHER_*`` variables override the config's
        settings (docs/config.md).

        First (unless ``preflight=False``) every class is imported, every device link and ``sim:`` module
        and the recording path are checked (:mod:`ether_medium.fabric.preflight`): a problem raises
        :class:`~ether_medium.errors.PreflightError` listing all of them, and nothing is started."""
        with self._lock:
            if self._launcher is not None:
                raise LaunchError(
                    f"ether.tap() was already called (session {self._launcher.session_id}); "
                    "call ether.shutdown() before tapping again"
                )
            if "ETHER_CHILD" in os.environ:
                raise LaunchError("ether.tap() cannot be called inside an instance process")
            # the environment's ETHER_* settings apply over the YAML (ether_medium.settings)
            cfg = resolve(config if config is not None else {})
            console_handler(logging.getLevelName(cfg.logging.level or "INFO"))
            if preflight:
                from ether_medium.fabric.preflight import check

                check(cfg)  # raises PreflightError before any process starts
            if cfg.fabric.join is not None:  # run here, in a session on another machine
                from ether_medium.fabric.joiner import JoiningLauncher

                launcher: Launcher = JoiningLauncher(cfg, services)
            else:
                launcher = Launcher(cfg, services)
            launcher.tap(ready_timeout=ready_timeout)
            self._launcher = launcher
            self._started = False
            set_publish_hook(self._publish_from_tap)
            if not self._atexit:
                atexit.register(self._at_exit)
                self._atexit = True

    def start(self) -> None:
        """Run every instance's ``ether_start`` handlers (once; a second call does nothing)."""
        with self._lock:
            if self._launcher is None:
                raise LaunchError(
                    "ether.start() called before ether.tap(config=...): tap into the fabric first"
                )
            if self._started:
                log.warning("ether.start() was already called; ignoring")
                return
            self._started = True
            self._launcher.start()

    def shutdown(self, timeout: float = 10.0) -> RunReport | None:
        """Save, clean up and stop every process; returns when all are gone, with the run's report (what went
        wrong, what was recorded: :class:`~ether_medium.fabric.health.RunReport`). Does nothing when not
        tapped."""
        with self._lock:
            launcher = self._launcher
            if launcher is None:
                return None
            set_publish_hook(None)
            try:
                close_all()
                proxies = sys.modules.get("ether_medium.bridge.proxy")  # not imported: no device proxy open
                if proxies is not None:
                    proxies.close_all()
                return launcher.shutdown(timeout=timeout)
            finally:
                self._launcher = None
                self._started = False

    def _at_exit(self) -> None:
        if self._launcher is not None:
            log.warning("ether.shutdown() was not called; shutting down at exit")
            self.shutdown()

    # -- messaging -------------------------------------------------------------------------------------
    def get(self, topic: str, timeout: float = 5.0, **params: Any) -> Any:
        """Ask the instance serving ``topic`` (an ``@ether_get`` method) and return its answer.

        Raises ``TimeoutError`` naming the service when nobody answers within ``timeout`` seconds, and
        :class:`ether_medium.fabric.requests.RemoteError` when the service rejects the request or fails."""
        addresses, name = self._addresses()
        context = self._launcher.context if self._launcher is not None else None
        return requester_for(addresses, name, context).get(topic, timeout, params)

    def device(self, name: str, timeout: float = 10.0) -> DeviceProxy:
        """The board ``name`` of the config's ``devices:`` section as an object (see docs/bridge.md):
        ``ether.device("thermo").set_led(on=True)`` returns after the board's ACK, ``.last[topic]`` holds
        its last readings. Waits up to ``timeout`` seconds for its bridge to have it attached; one proxy
        per device and process, closed by :meth:`shutdown`."""
        from ether_medium.bridge import proxy

        launcher = self._launcher
        if launcher is None and "ETHER_PUBLISH" not in os.environ:
            raise LaunchError(
                f"ether.device({name!r}) needs a running fabric: call ether.tap(config=...) with a "
                "devices: section first (after ether.shutdown(), tap again)"
            )
        if launcher is not None and name not in launcher.config.devices:
            configured = ", ".join(sorted(launcher.config.devices)) or "none"
            raise LaunchError(
                f"ether.device({name!r}): no device {name!r} in the devices: section of "
                f"{launcher.config.source}; configured devices: {configured}"
            )
        addresses, caller = self._addresses()
        return proxy.device(name, addresses, caller, timeout)

    def publish(self, topic: str, data: dict[str, Any] | None = None, /, **fields: Any) -> None:
        """Publish a message on ``topic``: ``ether.publish("set_point", celsius=21.5)`` (or a dict:
        ``ether.publish("set_point", {"celsius": 21.5})``), from the tap process (a script or notebook,
        any thread) or from inside an instance process (any of its methods or threads)."""
        if data is not None and not isinstance(data, dict):
            raise TypeError(
                f"ether.publish({topic!r}, ...): the message is a dict or keyword arguments, "
                f"got {type(data).__name__}"
            )
        message = {**data, **fields} if data is not None else fields
        launcher = self._launcher
        client = launcher.main_client if launcher is not None else process_client()
        if client is None or client.closed:
            raise LaunchError(
                f"ether.publish({topic!r}) needs a running fabric: call ether.tap(config=...) first (after "
                "ether.shutdown(), tap again)"
            )
        client.publish(topic, message)

    def _publish_from_tap(self, obj: Any, meta: EtherMethod, result: Any) -> None:
        from ether_medium.fabric.publishing import publish_return

        launcher = self._launcher
        if launcher is not None and launcher.main_client is not None:
            publish_return(launcher.main_client, meta, result)


ether = Ether()
