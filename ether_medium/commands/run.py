"""``ether run CONFIG [--duration SECONDS]``: tap, start, wait (Ctrl-C, SIGTERM or the duration), shut down.

Exit status: 0 after a clean run, 1 when a process of the session exited unexpectedly, 2 for a config that
cannot be used (the message names the file, key path and what was expected).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from ether_medium.api import EtherError, ether
from ether_medium.config import ConfigError

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


def main(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            ether.tap(config=args.config)
        except (ConfigError, EtherError) as exc:
            print(f"ether run: {exc}", file=sys.stderr)
            return 2
        launcher = ether.launcher
        try:
            ether.start()
            stop.wait(args.duration)
        finally:
            ether.shutdown()
        return 1 if launcher is not None and launcher.failures else 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
