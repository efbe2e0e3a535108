"""The ``ether`` command. Each subcommand lives in its own module under :mod:`ether_medium.commands`.

A command module defines ``HELP: str``, ``add_arguments(parser)`` and ``main(args) -> int``. Modules are
imported only when their command runs, so ``ether --help`` stays fast and one command's optional
dependencies never load for another.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

# name -> one-line help; the module is ether_medium.commands.<name>
COMMANDS: dict[str, str] = {
    "run": "run a YAML config: tap, start, wait (Ctrl-C or --duration), shut down",
    "check": "check a YAML config (classes, devices, recording path) without starting anything",
    "graph": "print the wiring of a config as a mermaid diagram (--check: its wiring problems)",
    "monitor": "print the messages on topics of a running fabric (JSON lines or a table)",
    "topics": "list the topics of a running fabric with their rates, counts, sources and types",
    "hz": "show the rate and intervals of topics of a running fabric, updating in place",
    "pub": "publish a message (once, or at a rate) into a running fabric",
    "status": "show a running fabric's processes, devices and recorder on one screen",
    "plot": "plot numeric fields of live topics (or a recording) in Rerun",
    "devices": "list serial ports and the ether_lite boards that answer on them",
    "bridge": "attach one device by its link and print what it publishes",
    "sim": "run device code on the desktop over a real pty or UDP link",
    "deploy": "copy ether_lite and firmware onto a CIRCUITPY drive",
    "sessions": "list recorded sessions",
    "export": "export a recorded session to CSV, Parquet or MCAP",
    "replay": "republish a recorded session into a running fabric",
    "keys": "create a CURVE key pair for joining machines into one fabric",
}


def _available() -> dict[str, str]:
    out = {}
    for name, help_ in COMMANDS.items():
        if importlib.util.find_spec(f"ether_medium.commands.{name}") is not None:
            out[name] = help_
    return out


def version() -> str:
    """``ether X (protocol P, ether_lite L)``: this package, the wire protocol it speaks, the device core it
    ships (what ``ether deploy`` copies onto a board)."""
    import ether_lite
    from ether_lite import protocol
    from ether_medium.version import __version__

    return f"ether-medium {__version__} (protocol {protocol.VERSION}, ether_lite {ether_lite.__version__})"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["--version"], ["-V"]):
        print(version())
        return 0
    parser = argparse.ArgumentParser(prog="ether", description="Ether: lab code and boards in one fabric.")
    parser.add_argument("-V", "--version", action="store_true", help="print the versions and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    available = _available()
    for name, help_ in available.items():
        sub.add_parser(name, help=help_, add_help=False)
    if not argv or argv[0] not in available:
        args = parser.parse_args(argv)  # prints help or the error for an unknown command
        parser.print_help()
        return 2
    module = importlib.import_module(f"ether_medium.commands.{argv[0]}")
    cmd = argparse.ArgumentParser(prog=f"ether {argv[0]}", description=available[argv[0]])
    module.add_arguments(cmd)
    args = cmd.parse_args(argv[1:])
    try:
        return int(module.main(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
