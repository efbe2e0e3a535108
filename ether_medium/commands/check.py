"""``ether check CONFIG``: the checks ``ether run`` makes before it starts anything, and nothing else.

The config is parsed (every key), every class imported, every device link and ``sim:`` module and the
recording path checked (:mod:`ether_medium.fabric.preflight`). Exit status 0 when the config can run, 2 with
one line per problem (file, key, what was wrong) when it cannot.
"""

from __future__ import annotations

import argparse
import sys

from ether_medium.config import load_config
from ether_medium.errors import ConfigError
from ether_medium.fabric.preflight import preflight

HELP = "check a YAML config (classes, devices, recording path) without starting anything"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="the YAML file to check")


def main(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"ether check: {exc}", file=sys.stderr)
        return 2
    problems = preflight(cfg)
    for problem in problems:
        print(f"{cfg.source}: {problem}", file=sys.stderr)
    if problems:
        many = "s" * (len(problems) != 1)
        print(f"ether check: {len(problems)} problem{many}; `ether run` would not start", file=sys.stderr)
        return 2
    recording = cfg.recording.path if cfg.recording is not None and cfg.recording.enabled else "off"
    print(f"{cfg.source}: ok: {len(cfg.instances)} instance(s), {len(cfg.devices)} device(s), "
          f"recording: {recording}")
    return 0
