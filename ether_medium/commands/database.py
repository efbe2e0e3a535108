"""Which recording database a data command (``sessions``, ``export``, ``replay``) reads, and opening it.

``--db PATH`` names it; ``--config CONFIG`` takes ``recording.path`` of that config (relative paths are
relative to the current directory, as for ``ether run``); with neither it is ``ether_data/ether.sqlite``.
A file that is not an Ether recording gives a clear error, never a traceback (:meth:`Store.open_existing`).
"""

from __future__ import annotations

import argparse
from datetime import datetime

from ether_medium.config import load_config
from ether_medium.errors import ConfigError
from ether_medium.recorder.store import DEFAULT_PATH, Store

__all__ = ["add_arguments", "iso_time", "open_database", "path_of"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--db", default=None, metavar="PATH",
                       help=f"recording database (default: recording.path of --config, else {DEFAULT_PATH})")
    where.add_argument("--config", default=None, metavar="CONFIG",
                       help="read the database named by this YAML config's recording.path")


def path_of(args: argparse.Namespace) -> str:
    """The database ``args`` name (see the module docstring); :class:`ConfigError` for a config that cannot
    be read or records nothing."""
    if args.db is not None:
        return str(args.db)
    if args.config is None:
        return DEFAULT_PATH
    cfg = load_config(args.config)
    if cfg.recording is None:
        raise ConfigError(args.config, ["recording: the config has no recording section, so its runs are "
                                        "not recorded; pass --db PATH to read another database"])
    return cfg.recording.path


def open_database(args: argparse.Namespace) -> Store:
    """The database of :func:`path_of`, which must exist and be an Ether recording (``SessionNotFound`` or
    ``DatabaseError`` say why not)."""
    return Store.open_existing(path_of(args))


def iso_time(t: float | None, timespec: str = "milliseconds") -> str:
    """A host time as ISO 8601 in the local time zone, with its offset (``2026-12-03T14:05:09.123+01:00``)."""
    if t is None:
        return "-"
    return datetime.fromtimestamp(t).astimezone().isoformat(timespec=timespec)
