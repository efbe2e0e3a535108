"""Entry point of every process the launcher starts: ``python -m ether_medium.fabric.child``.

The launcher passes what to run as JSON in ``ETHER_CHILD`` (``Launcher._env`` in
:mod:`ether_medium.fabric.launcher`) and the broker's addresses in ``ETHER_PUBLISH`` / ``ETHER_SUBSCRIBE``.
The child connects a :class:`FabricClient` named after the process, sends its log records to the fabric
(``Ether.log``), runs an instance (:class:`ether_medium.fabric.instance.InstanceRuntime`) or a service target,
and closes the client with ``Ether.bye``. Exit status: 0 on a normal shutdown, 1 when setting up failed (the
reason is logged).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import os
import signal
import sys
import traceback
from typing import Any

import zmq

from ether_medium.errors import ClassPathError, SetupError
from ether_medium.fabric.broker import BrokerAddresses
from ether_medium.fabric.client import FabricClient, set_process_client
from ether_medium.fabric.instance import InstanceRuntime  # imported before a fork: children start warm
from ether_medium.logs import FabricLogHandler, FabricStdout, level_from_env
from ether_medium.topics import LIFECYCLE

log = logging.getLogger("ether")


def _run_instance(client: FabricClient, spec: dict[str, Any]) -> int:
    runtime = InstanceRuntime(
        client, dict(spec["instance"], listening=spec.get("listening")), catch_up=spec.get("catch_up") or []
    )
    if spec.get("leave_on_sigterm"):  # an instance of a machine that joined a session (fabric.joiner)
        return run_until_leave(runtime)
    return runtime.run()


def _run_service(client: FabricClient, spec: dict[str, Any]) -> int:
    from ether_medium.config import load_config
    from ether_medium.fabric.service import ServiceContext

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
        listening=bool(spec.get("listening")),
    )
    signal.signal(signal.SIGTERM, lambda *_: ctx.stop.set())
    result = target(ctx)
    return int(result or 0)


def _reset_after_fork() -> None:
    """Forget what the forked child inherited from the tap process: log handlers, publish hook, signals."""
    from ether_medium.fabric.decorators import set_publish_hook

    set_publish_hook(None)
    for logger in (logging.getLogger(), log):
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
    log.propagate = True
    for name in ("SIGTERM", "SIGCHLD", "SIGHUP", "SIGALRM", "SIGUSR1", "SIGUSR2"):
        signal.signal(getattr(signal, name), signal.SIG_DFL)


def _line_buffered_stdout() -> None:
    """One ``write`` per printed line, so lines of several processes sharing the console never interleave
    (even with ``PYTHONUNBUFFERED``, where every ``print`` argument would be its own write)."""
    out = sys.stdout
    if not isinstance(out, io.TextIOWrapper):
        return
    with contextlib.suppress(OSError, ValueError):
        out.flush()
        fd = out.fileno()
        sys.stdout = io.TextIOWrapper(
            io.BufferedWriter(io.FileIO(fd, "w", closefd=False)),
            encoding=out.encoding,
            errors=out.errors,
            line_buffering=True,
        )


def run_child(spec: dict[str, Any], env: dict[str, str] | None = None) -> int:
    """Run the process described by ``spec``; ``env`` (for a forked child) is merged into ``os.environ``."""
    if env is not None:
        os.environ.update(env)
        _reset_after_fork()
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())  # class paths are relative to the directory ether was started in
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the tap process's to handle
    _line_buffered_stdout()
    client = FabricClient(BrokerAddresses.from_env(), spec["name"])
    set_process_client(client)
    root = logging.getLogger()
    handler = FabricLogHandler(client)
    root.addHandler(handler)
    root.setLevel(level_from_env())
    log.setLevel(level_from_env())
    if os.environ.get("ETHER_STDOUT") == "fabric":  # on a cluster node: print over the fabric
        sys.stdout = FabricStdout(client)
    code = 1
    try:
        code = _run_instance(client, spec) if spec["kind"] == "instance" else _run_service(client, spec)
    except Exception as exc:
        if not client.live:
            with contextlib.suppress(TimeoutError):  # so the error reaches the tap process's console
                client.join(bool(spec.get("listening")), 5.0, kind="failed")
        if isinstance(exc, (ClassPathError, SetupError)):
            log.error("%s", exc)
        else:
            log.error("%s: failed:\n%s", spec["name"], traceback.format_exc().rstrip())
        if not client.live:
            print(f"ether child {spec['name']!r}: {exc}", file=sys.stderr)
        code = 1
    finally:
        root.removeHandler(handler)
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        set_process_client(None)
        client.close(bye=not client.orphaned)
        # close what the service may have left open; returns once Ether.bye has left (or after 2 s)
        zmq.Context.instance().destroy(linger=0 if client.orphaned else 2000)
    return code


def main() -> int:
    return run_child(json.loads(os.environ["ETHER_CHILD"]))


if __name__ == "__main__":
    sys.exit(main())


def run_until_leave(runtime: InstanceRuntime) -> int:
    """Run an instance of a joined machine: SIGTERM (its launcher leaves the session) makes it run the
    phases it has not run yet, as ``Ether.shutdown`` would, and exit normally (with ``Ether.bye``)."""

    class Leave(BaseException):
        pass

    def on_term(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM stops it at once
        raise Leave

    signal.signal(signal.SIGTERM, on_term)
    try:
        return runtime.run()
    except Leave:
        logging.getLogger("ether").info(
            "%s: leaving the session (its machine's launcher stops)", runtime.name
        )
        for phase in LIFECYCLE:
            runtime.run_phase(phase)
        return 0
