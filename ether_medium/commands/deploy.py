"""``ether deploy [CIRCUITPY_PATH] [--code FILE] [--force]``: put ether_lite and firmware onto a board."""

from __future__ import annotations

import argparse
import sys

from ether_medium.deploy.deployment import DEFAULT_CODE
from ether_medium.deploy.drive import ENV_DRIVE
from ether_medium.deploy.install import deploy
from ether_medium.errors import DeployError

HELP = "copy ether_lite and firmware onto a CIRCUITPY drive"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("drive", nargs="?", metavar="CIRCUITPY_PATH",
                        help=f"mount point of the board's drive (default: ${ENV_DRIVE}, else search the "
                             "usual mount points for a drive with boot_out.txt)")
    parser.add_argument("--code", metavar="FILE", default=None,
                        help="code.py to install: a file, or a firmware/ template name: cpu_temperature, "
                             f"actuator, analog, wifi_udp (default: {DEFAULT_CODE})")
    parser.add_argument("--force", action="store_true",
                        help="replace a code.py / boot.py / device module on the drive that holds other code")


def main(args: argparse.Namespace) -> int:
    try:
        deploy(args.drive, code=args.code, force=args.force, progress=lambda line: print(line, flush=True))
    except DeployError as exc:
        print(f"ether deploy: {exc}", file=sys.stderr)
        return 1
    return 0
