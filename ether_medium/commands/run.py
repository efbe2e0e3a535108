"""``ether run CONFIG [--duration SECONDS]``: tap, start, wait (Ctrl-C, SIGTERM or the duration), shut down.

With ``--join tcp://HOST:PORT`` (or ``fabric: {join: ...}`` in the config) the config's instances and devices
run on this machine in the session whose broker is at HOST (see docs/fabric.md, "Several machines"); the run
ends with that session, or earlier on Ctrl-C / SIGTERM / the duration.

Exit status: 0 after a clean run, 1 when a process of the session exited unexpectedly, 2 for a config that
cannot be used (the message names the file, key path and what was expected).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from types import FrameType

from ether_medium.api import ether
from ether_medium.config import EtherConfig, load_config
from ether_medium.errors import ConfigError, EtherError

HELP = "run a YAML config: tap, start, wait (Ctrl-C or --duration), shut down"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "config", help="the YAML file (instances:, registry:, devices:, recording:, logging:)"
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this many seconds (default: run until Ctrl-C)",
    )
    parser.add_argument(
        "--join",
        default=None,
        metavar="tcp://HOST:PORT",
        help="run this config's instances and devices here, in the session whose broker is at HOST:PORT "
        "(its fabric.host / fabric.port); keys from this config's fabric.curve",
    )


def _config(path: str, join: str | None) -> EtherConfig:
    cfg = load_config(path)
    if join is None:
        return cfg
    raw = dict(cfg.raw)
    fabric = dict(raw.get("fabric") or {})
    fabric["join"] = join
    fabric.pop("transport", None)  # this machine runs no broker
    raw["fabric"] = fabric
    try:
        joined = load_config(raw)
    except ConfigError as exc:
        raise ConfigError(path, [f"{problem} (with --join)" for problem in exc.problems]) from exc
    joined.source = path
    return joined


def _wait(stop: threading.Event, ended: threading.Event | None, duration: float | None) -> None:
    """Until ``stop`` (a signal), ``ended`` (the joined session ended) or ``duration`` seconds."""
    deadline = None if duration is None else time.monotonic() + duration
    while not stop.is_set() and not (ended is not None and ended.is_set()):
        left = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
        if left <= 0:
            return
        stop.wait(left)


def main(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            ether.tap(config=_config(args.config, args.join))
        except (ConfigError, EtherError) as exc:
            print(f"ether run: {exc}", file=sys.stderr)
            return 2
        launcher = ether.launcher
        try:
            ether.start()
            _wait(stop, launcher.ended if launcher is not None else None, args.duration)
        finally:
            ether.shutdown()
        return 1 if launcher is not None and launcher.failures else 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
