"""Finding a running fabric from another terminal: its state file (see
:mod:`ether_medium.fabric.statefile`) names the broker's addresses and the session."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass

from ether_medium.errors import FabricNotFound
from ether_medium.fabric.broker import BrokerAddresses
from ether_medium.fabric.statefile import fabric_file

__all__ = ["RunningFabric", "add_fabric_argument", "fabric_or_say_why", "find_fabric"]


@dataclass(frozen=True, slots=True)
class RunningFabric:
    addresses: BrokerAddresses
    session: str
    pid: int | None
    path: str


def add_fabric_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fabric", default=None, metavar="FILE",
        help="the state file of the running session (default: the one `ether run` writes; docs/observe.md)",
    )


def find_fabric(path: str | None = None) -> RunningFabric:
    """The fabric whose state file is ``path`` (default :func:`fabric_file`); :class:`FabricNotFound` saying
    what to do when there is none, or when the process that wrote the file is gone."""
    path = path or fabric_file()
    try:
        with open(path) as fh:
            info = json.load(fh)
        addresses = BrokerAddresses.from_env(info)
    except FileNotFoundError:
        raise FabricNotFound(
            f"no running fabric: {path} does not exist. Start one with `ether run CONFIG` (from this "
            "directory, or with the same ETHER_STATE_DIR), or give --fabric FILE"
        ) from None
    except (OSError, ValueError, RuntimeError, AttributeError, TypeError) as exc:
        raise FabricNotFound(f"cannot use {path}: {exc}; give --fabric FILE of a running session") from exc
    pid = info.get("pid")
    if isinstance(pid, int) and not _alive(pid):
        raise FabricNotFound(
            f"{path} is left over from a fabric that is no longer running (PID {pid} is gone); "
            "start one with `ether run CONFIG`"
        )
    return RunningFabric(addresses, str(info.get("session", "?")), pid if isinstance(pid, int) else None,
                         path)


def fabric_or_say_why(command: str, path: str | None) -> RunningFabric | None:
    """:func:`find_fabric`, or None after printing why not (``ether COMMAND: ...``) to stderr."""
    try:
        return find_fabric(path)
    except FabricNotFound as exc:
        print(f"ether {command}: {exc}", file=sys.stderr)
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
