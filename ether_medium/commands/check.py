"""``ether check CONFIG``: the checks ``ether run`` makes before it starts anything, and nothing else.

The config is parsed (every key), every class imported, every device link and ``sim:`` module and the
recording path checked (:mod:`ether_medium.fabric.preflight`); then the wiring (:mod:`ether_medium.wiring`:
subscribers no publisher feeds, publishers nobody hears, fields that do not match). Exit status 0 when the
config can run and its wiring has no error (warnings are printed), 1 when the wiring has errors, 2 with one
line per problem (file, key, what was wrong) when it cannot run at all.
"""

from __future__ import annotations

import argparse
import sys

from ether_medium.config import load_config
from ether_medium.errors import ConfigError
from ether_medium.fabric.preflight import preflight

HELP = "check a YAML config (classes, devices, recording path, wiring) without starting anything"


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
    from ether_medium.wiring import check_wiring

    wiring = check_wiring(cfg)
    for problem in wiring:
        print(f"{cfg.source}: {problem}", file=sys.stderr)
    errors = sum(1 for p in wiring if p.severity == "error")
    if errors:
        many = "s" * (errors != 1)
        print(f"ether check: {errors} wiring error{many} (`ether graph {args.config}` draws it)",
              file=sys.stderr)
        return 1
    recording = cfg.recording.path if cfg.recording is not None and cfg.recording.enabled else "off"
    warned = f", {len(wiring)} wiring warning{'s' * (len(wiring) != 1)}" if wiring else ""
    print(f"{cfg.source}: ok: {len(cfg.instances)} instance(s), {len(cfg.devices)} device(s), "
          f"recording: {recording}{warned}")
    return 0
