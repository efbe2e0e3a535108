"""Entry point of every process the launcher starts: ``python -m ether_medium.child``.

The launcher passes what to run as JSON in ``ETHER_CHILD`` (see :func:`ether_medium.launcher.child_env`) and
the broker's addresses in ``ETHER_PUBLISH`` / ``ETHER_SUBSCRIBE``. The child connects a
:class:`FabricClient` named after the process, sends its log records to the fabric (``Ether.log``), runs an
instance (:class:`ether_medium.instance.InstanceRuntime`) or a service target, and closes the client with
``Ether.bye``. Exit status: 0 on a normal shutdown, 1 when setting up failed (the reason is logged).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import sys
import threading
import traceback
from typing import Any

from ether_medium.broker import BrokerAddresses
from ether_medium.client import FabricClient
from ether_medium.logs import FabricLogHandler, level_from_env

log = logging.getLogger("ether")


def _run_instance(client: FabricClient, spec: dict[str, Any]) -> int:
    from ether_medium.instance import InstanceRuntime

    return InstanceRuntime(client, spec["instance"], started=bool(spec.get("started"))).run()


def _run_service(client: FabricClient, spec: dict[str, Any]) -> int:
    from ether_medium.config import load_config
    from ether_medium.service import ServiceContext

    service = spec["service"]
    module_name, _, func_name = service["target"].partition(":")
    module = importlib.import_module(module_name)
    target = getattr(module, func_name)
    config = load_config(spec.get("config") or {})
    config.source = spec.get("config_source", config.source)
    ctx = ServiceContext(
        name=client.name,
        session_id=spec["session"],
        addresses=client.addresses,
        config=config,
        client=client,
        kwargs=service.get("kwargs") or {},
        wait_for=list(service.get("wait_for") or []),
    )
    signal.signal(signal.SIGTERM, lambda *_: ctx.stop.set())
    result = target(ctx)
    return int(result or 0)


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the tap process's to handle
    if isinstance(sys.stdout, __import__("io").TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    spec = json.loads(os.environ["ETHER_CHILD"])
    client = FabricClient(BrokerAddresses.from_env(), spec["name"])
    root = logging.getLogger()
    root.addHandler(FabricLogHandler(client))
    root.setLevel(level_from_env())
    log.setLevel(level_from_env())
    code = 1
    try:
        code = _run_instance(client, spec) if spec["kind"] == "instance" else _run_service(client, spec)
    except Exception as exc:
        if not client.live:
            try:
                client.handshake(3.0)  # so the error reaches the tap process's console
            except TimeoutError:
                pass
        detail = str(exc) if exc.__class__.__name__ in ("ClassPathError", "RuntimeError") else ""
        if detail:
            log.error("%s", detail)
        else:
            log.error("%s: failed:\n%s", spec["name"], traceback.format_exc().rstrip())
        code = 1
    finally:
        root.handlers.clear()
        client.close(bye=True)
    return code


if __name__ == "__main__":
    threading.current_thread().name = "ether-child"
    sys.exit(main())
