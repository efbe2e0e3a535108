"""``ether export SESSION --format csv|parquet|mcap|hdf5 [--out DIR] [--topics GLOB...] [--db PATH | --config
CONFIG]``.

HDF5 (one group per topic, arrays stacked with their dtype and shape) opens in h5py; MCAP (one file, one
channel per topic) opens in Foxglove and PlotJuggler; see
:mod:`ether_medium.recorder.mcap_export`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ether_medium.commands import database
from ether_medium.errors import ConfigError, DatabaseError, MissingExtra, SessionNotFound
from ether_medium.recorder.export import export_csv
from ether_medium.recorder.hdf5 import export_hdf5
from ether_medium.recorder.parquet import export_parquet

HELP = "export a recorded session to CSV, Parquet, MCAP or HDF5"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", help="session id, a unique prefix of one, or 'latest'")
    parser.add_argument("--format", choices=("csv", "parquet", "mcap", "hdf5"), default="csv",
                        help="file format (csv)")
    parser.add_argument("--out", type=Path,
                        help="output directory (default: export/<session id> next to the database)")
    parser.add_argument("--topics", nargs="+", metavar="GLOB", help="only these topics (names or globs)")
    database.add_arguments(parser)


def main(args: argparse.Namespace) -> int:
    try:
        store = database.open_database(args)
    except (SessionNotFound, DatabaseError, ConfigError) as exc:
        print(f"ether export: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    try:
        session = store.resolve(args.session)
        out = args.out if args.out is not None else store.path.parent / "export" / session.id
        if args.format == "mcap":
            from ether_medium.recorder.mcap_export import export_mcap

            mcap_file = export_mcap(store, session, out, args.topics)[0]
            print(f"session {session.id} ({session.status}): {mcap_file}")
            return 0
        write = {"csv": export_csv, "parquet": export_parquet, "hdf5": export_hdf5}[args.format]
        written = write(store, session, out, args.topics)
    except SessionNotFound as exc:
        print(f"ether export: {exc}", file=sys.stderr)
        return 1
    except MissingExtra as exc:
        print(f"ether export: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    tables = len(written.paths) - 1
    what = "HDF5 file" if args.format == "hdf5" else f"topic file{'s' * (tables != 1)}"
    print(f"session {session.id} ({session.status}): {tables} {what} in {out}")
    for path in written.paths:
        print(f"  {path.name}")
    if written.converted:
        print(f"{written.converted} value{'s' * (written.converted != 1)} written as text: the {args.format} "
              "format cannot hold them as they are; for example:")
        for example in written.examples:
            print(f"  {example}")
    return 0
