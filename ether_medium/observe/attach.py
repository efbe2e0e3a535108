"""Finding a running fabric from another terminal: each run's state file (see
:mod:`ether_medium.fabric.statefile`) names the broker's addresses and the session."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from ether_medium.errors import FabricNotFound
from ether_medium.fabric import statefile
from ether_medium.fabric.broker import BrokerAddresses

__all__ = ["RunningFabric", "add_fabric_argument", "fabric_or_say_why", "find_fabric"]


@dataclass(frozen=True, slots=True)
class RunningFabric:
    addresses: BrokerAddresses
    session: str
    pid: int | None
    path: str


def add_fabric_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fabric", default=None, metavar="SESSION|FILE",
        help="which running fabric: its session id (or a unique prefix) or its fabric file (needed when "
        "several run and this is not a terminal; docs/observe.md)",
    )


def find_fabric(which: str | None = None) -> RunningFabric:
    """The running fabric named by ``which`` (a session id or prefix, a fabric file, or None: the only one
    running, or the one the user picks); :class:`FabricNotFound` saying what to do when there is none."""
    fabric = statefile.find_fabric(which)
    try:
        addresses = BrokerAddresses.from_env({k: str(v) for k, v in fabric.info.items()})
    except (RuntimeError, AttributeError, TypeError) as exc:
        raise FabricNotFound(f"cannot use {fabric.path}: {exc}; give --fabric of a running session") from exc
    return RunningFabric(addresses, fabric.session, fabric.pid, str(fabric.path))


def fabric_or_say_why(command: str, which: str | None) -> RunningFabric | None:
    """:func:`find_fabric`, or None after printing why not (``ether COMMAND: ...``) to stderr."""
    try:
        return find_fabric(which)
    except (FabricNotFound, ValueError) as exc:
        print(f"ether {command}: {exc}", file=sys.stderr)
        return None
