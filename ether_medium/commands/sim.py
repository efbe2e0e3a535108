"""``ether sim DEVICE [--link pty|udp://HOST:PORT|stdio] [--baud N] [--id ID]``: run device code on the
desktop against simulated hardware, over a real byte link the host cannot tell from a board's."""

from __future__ import annotations

import argparse
import sys

from ether_medium.bridge.links.sim import add_board_options

HELP = "run device code on the desktop over a real pty or UDP link"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("device", metavar="DEVICE",
                        help="a code.py-style file (firmware/code_cpu_temperature.py) or module:Class "
                             "(thermo:Thermometer; modules are found in . and examples/devices/)")
    parser.add_argument("--link", default="pty",
                        help="pty (default: a pseudo-terminal whose path is printed; open it like a serial "
                             "port), udp://HOST:PORT (send datagrams to the host there), or stdio (for a "
                             "parent process)")
    parser.add_argument("--id", dest="device_id", default=None,
                        help="the device id to report in HELLO (default: sim-<class name>); also sets the "
                             "simulated microcontroller.cpu.uid")
    add_board_options(parser)  # --baud, --world, --seed, ... (also the options of a sim: link URL)
    parser.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                        help="stop after this long (default: run until Ctrl-C or SIGTERM)")


def main(args: argparse.Namespace) -> int:
    if args.baud is not None and args.baud <= 0:
        print(f"ether sim: --baud must be a positive number of bits per second, got {args.baud}",
              file=sys.stderr)
        return 2
    if args.tau <= 0 or args.heater_watts < 0:
        print(f"ether sim: --tau must be > 0 seconds and --heater-watts >= 0, got {args.tau} and "
              f"{args.heater_watts}", file=sys.stderr)
        return 2
    from ether_lite.sim import runner  # imported here: only `ether sim` needs the simulator

    try:
        code = runner.serve(args.device, link=args.link, baud=args.baud, device_id=args.device_id,
                            world=args.world, seed=args.seed, duration_s=args.duration,
                            ambient_c=args.ambient, tau_s=args.tau, heater_watts=args.heater_watts)
    except runner.SimError as exc:
        print(f"ether sim: {exc}", file=sys.stderr)
        return 2
    return code
