"""``make demo``: a small rig on the desktop, run for about 15 seconds.

Two simulated boards (a thermometer and a heater, the same device code a real board runs) are attached
through the bridge; a host logger counts the readings and a controller switches the heater around a set
point. Everything is in examples/config/demo_rig.yaml. This script taps into the fabric, prints one line
per second, and ends with a summary::

    python -m examples.demo [--duration SECONDS] [--config FILE]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs

from ether_medium import ether
from ether_medium.config import EtherConfig, load_config
from ether_medium.errors import ConfigError

CONFIG = Path(__file__).parent / "config" / "demo_rig.yaml"
LINK_ERRORS = ("crc_errors", "cobs_errors", "oversize", "decode_errors", "version_errors", "sequence_gaps",
               "rejected", "describe_errors", "delivery_failures", "device_errors")  # bridge link counters


def fresh_worlds(cfg: EtherConfig) -> None:
    """Start the simulated boards' shared world afresh (no heater left on by an earlier run)."""
    for device in cfg.devices.values():
        for world in parse_qs(device.link.partition("?")[2]).get("world", []):
            Path(world).parent.mkdir(parents=True, exist_ok=True)
            Path(world).unlink(missing_ok=True)


def wait_for_boards(names: list[str], timeout_s: float) -> None:
    """Return once every board has said HELLO and described itself to its bridge."""
    deadline = time.monotonic() + timeout_s
    for name in names:
        while not (info := ether.get(f"Ether.bridge.{name}", what="describe"))["attached"]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"board {name!r} did not attach within {timeout_s:g} s "
                                   f"({info['last_detach_reason'] or 'no answer on ' + info['link']})")
            time.sleep(0.1)
        topics = ", ".join(e["topic"] for e in info["endpoints"])
        print(f"  board {name!r} attached ({info['link']}): device id {info['device_id']}, {topics}")


def live_line(t_s: float, log: dict, ctrl: dict) -> str:
    celsius = "   --   " if log["celsius"] is None else f"{log['celsius']:6.2f} C"
    heater = {True: "ON ", False: "off", None: " ? "}[ctrl["heater_on"]]
    return (f"{t_s:5.1f} s  {celsius}  heater {heater}  set point {ctrl['set_point_c']:.1f} C  "
            f"readings {log['readings']:3d}  switches {ctrl['switches']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds to run (default 15)")
    parser.add_argument("--config", type=Path, default=CONFIG, help="the rig's YAML file")
    args = parser.parse_args(argv)

    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    if cfg.recording is not None and importlib.util.find_spec("ether_medium.recorder") is None:
        print("demo: this installation has no recorder (ether_medium.recorder): running without recording")
        cfg.recording = None
    fresh_worlds(cfg)

    print(f"Starting the demo rig ({args.config.name}) for {args.duration:g} s ...")
    try:
        ether.tap(config=cfg)
    except Exception as exc:
        print(f"demo failed: the rig did not start: {exc}", file=sys.stderr)
        return 1
    logger: dict = {}
    ctrl: dict = {}
    links: dict = {}
    problems = []
    try:
        wait_for_boards(list(cfg.devices), timeout_s=15.0)
        ether.start()
        t0 = time.monotonic()
        while (t := time.monotonic() - t0) < args.duration:
            # Readings come once a second: show the next line half a second after the next reading.
            age_s = logger.get("age_s")
            time.sleep(min(args.duration - t, 1.5 - age_s if age_s is not None and age_s < 1.5 else 1.0))
            logger = ether.get("TemperatureLogger.status")
            ctrl = ether.get("HeaterController.status")
            print(live_line(time.monotonic() - t0, logger, ctrl), flush=True)
        links = {name: ether.get(f"Ether.bridge.{name}", what="counters") for name in cfg.devices}
    except KeyboardInterrupt:
        problems.append("interrupted (Ctrl-C)")
    except Exception as exc:
        problems.append(str(exc))
    finally:
        session = ether.session_id
        ether.shutdown()

    print_summary(cfg, session, logger, ctrl, links)
    if logger.get("readings", 0) == 0:
        problems.append("no readings arrived from the thermometer board (see the messages above)")
    if ctrl.get("acked", 0) == 0:
        problems.append("no heater command was acknowledged by the heater board (see the messages above)")
    for problem in problems:
        print(f"demo failed: {problem}", file=sys.stderr)
    return 1 if problems else 0


def ether_command() -> str:
    """The ``ether`` command of this installation, as a user can type it here."""
    script = Path(sys.executable).parent / "ether"
    if not script.exists() or shutil.which("ether") == str(script):
        return "ether"
    return os.path.relpath(script)


def print_summary(cfg: EtherConfig, session: str | None, logger: dict, ctrl: dict, links: dict) -> None:
    print("\nSummary")
    print(f"  readings received   {logger.get('readings', 0)}")
    if logger.get("readings"):
        print(f"  temperature range   {logger['min_c']:.2f} .. {logger['max_c']:.2f} C")
    print(f"  heater switches     {ctrl.get('switches', 0)} "
          f"(commands acknowledged by the board: {ctrl.get('acked', 0)}, failed: {ctrl.get('failed', 0)})")
    for name, c in links.items():
        errors = sum(c.get(k, 0) for k in LINK_ERRORS)
        print(f"  link {name:<14} {c['frames_in']} frames in, {c['frames_out']} out, {errors} errors, "
              f"{c['delivered']} deliveries acknowledged")
    if cfg.recording is not None:
        db = cfg.recording.path
        print(f"  recorded to         {db}, session {session}")
        print(f"  export to CSV       {ether_command()} export {session} --format csv --db {db}")
    else:
        print("  recorded to         nothing (no recorder in this installation)")


if __name__ == "__main__":
    sys.exit(main())
