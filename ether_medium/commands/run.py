"""``ether run CONFIG [--duration SECONDS]``: tap, start, wait (Ctrl-C, SIGTERM or the duration), shut down.

With ``--join tcp://HOST:PORT`` (or ``fabric: {join: ...}`` in the config) the config's instances and devices
run on this machine in the session whose broker is at HOST (see docs/fabric.md, "Several machines"); the run
ends with that session, or earlier on Ctrl-C / SIGTERM / the duration.

Settings (log level, recording path, fabric address, state directory, ...) come from the command line, else
their ``ETHER_*`` variable, else the YAML, else their default (:mod:`ether_medium.settings`);
``--print-config`` prints the effective ones and where each came from, and starts nothing.

Before anything starts, the config is checked (every class imported, device links and ``sim:`` modules, the
recording path: :mod:`ether_medium.fabric.preflight`). At the end a summary is printed at every log level:
duration, session id, rows recorded and the database, every problem of the run, the export command
(:class:`ether_medium.fabric.health.RunReport`).

Exit status: 0 after a run without failures (problems such as rejected messages or restarts are in the
summary and the session record), 1 when a process crashed and was not running at the end, a configured device
never attached, or the recording failed, 2 for a config that cannot be used or cannot run (the message names
the file, key path and what was wrong; nothing was started).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

from ether_medium.api import ether
from ether_medium.config import EtherConfig
from ether_medium.errors import ConfigError, EtherError
from ether_medium.settings import active, describe, resolve, setting

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
        "--print-config",
        action="store_true",
        help="print the effective settings and where each came from (command line, environment, the YAML, "
        "default), then exit without starting anything",
    )
    settings = parser.add_argument_group(
        "settings", "each overrides its ETHER_* variable, which overrides the YAML (docs/config.md)"
    )
    for s in active():
        if s.option is None:
            continue
        kind: Any = int if s.key.endswith("port") else s.normalise
        metavar = {"fabric.join": "tcp://HOST:PORT", "state_dir": "DIR"}.get(s.key, s.key.rpartition(".")[2])
        help_ = f"{s.meaning} (variable {s.env}; YAML {s.key if s.in_yaml else 'none'})"
        if s.key == "fabric.join":
            help_ += "; keys from this config's fabric.curve"
        settings.add_argument(
            s.option, dest=_dest(s.key), type=kind, default=None, metavar=metavar.upper(), help=help_
        )


def _dest(key: str) -> str:
    return "setting_" + key.replace(".", "_")


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line, by key."""
    return {s.key: getattr(args, _dest(s.key), None) for s in active() if s.option is not None}


def _print_config(cfg: EtherConfig) -> None:
    rows = describe(cfg)
    width = max(len(key) for key, _, _ in rows)
    value_width = max(len(value) for _, value, _ in rows)
    print(f"effective settings of {cfg.source} (command line > environment > YAML > default):")
    for key, value, origin in rows:
        print(f"  {key:<{width}}  {value:<{value_width}}  {origin}")


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
        options = _options(args)
        for key in ("state_dir",):  # settings without a YAML key live in the environment of the run
            if options.get(key) is not None:
                os.environ[setting(key).env] = str(options[key])
        try:
            cfg = resolve(args.config, options)
            if args.print_config:
                _print_config(cfg)
                return 0
            ether.tap(config=cfg)
        except (ConfigError, EtherError) as exc:
            print(f"ether run: {exc}", file=sys.stderr)
            return 2
        launcher = ether.launcher
        report = None
        try:
            ether.start()
            _wait(stop, launcher.ended if launcher is not None else None, args.duration)
        finally:
            report = ether.shutdown()
            if report is not None:
                print(report.text(), flush=True)  # at every log level
        return 1 if report is None else report.exit_code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
