"""``ether export SESSION --format csv|parquet [--out DIR] [--topics GLOB...] [--db PATH]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ether_medium.errors import MissingExtra, SessionNotFound
from ether_medium.recorder.export import export_csv, export_parquet
from ether_medium.recorder.store import DEFAULT_PATH, Store

HELP = "export a recorded session to CSV or Parquet"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", help="session id, a unique prefix of one, or 'latest'")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv", help="file format (csv)")
    parser.add_argument("--out", type=Path,
                        help="output directory (default: export/<session id> next to the database)")
    parser.add_argument("--topics", nargs="+", metavar="GLOB", help="only these topics (names or globs)")
    parser.add_argument("--db", default=DEFAULT_PATH, help=f"recording database (default {DEFAULT_PATH})")


def main(args: argparse.Namespace) -> int:
    try:
        store = Store.open_existing(args.db)
    except SessionNotFound as exc:
        print(f"ether export: {exc}", file=sys.stderr)
        return 1
    try:
        session = store.resolve(args.session)
        out = args.out if args.out is not None else Path(args.db).parent / "export" / session.id
        write = export_parquet if args.format == "parquet" else export_csv
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
    print(f"session {session.id} ({session.status}): {tables} topic file{'s' * (tables != 1)} in {out}")
    for path in written.paths:
        print(f"  {path.name}")
    if written.converted:
        print(f"{written.converted} value{'s' * (written.converted != 1)} written as text: the {args.format} "
              "format cannot hold them as they are; for example:")
        for example in written.examples:
            print(f"  {example}")
    return 0
