"""``ether replay SESSION [--speed 2.0] [--topics GLOB...] [--publish ADDR] [--db PATH | --config
CONFIG]``."""

from __future__ import annotations

import argparse
import sys

from ether_medium.commands import database
from ether_medium.errors import ConfigError, DatabaseError, FabricNotFound, SessionNotFound
from ether_medium.recorder.replay import fabric_publish_address, replay

HELP = "republish a recorded session into a running fabric"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", help="session id, a unique prefix of one, or 'latest'")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="playback speed: 2.0 halves every gap, 'inf' sends as fast as possible (1.0)")
    parser.add_argument("--topics", nargs="+", metavar="GLOB", help="only these topics (names or globs)")
    parser.add_argument("--publish", metavar="ADDR",
                        help="the fabric broker's publish address (default: $ETHER_PUBLISH, else that of the "
                             "running fabric)")
    parser.add_argument("--fabric", metavar="SESSION|FILE", default=None,
                        help="which running fabric to replay into when several run: its session id (or a "
                             "unique prefix) or its fabric file")
    parser.add_argument("--wait", type=float, default=5.0, metavar="SECONDS",
                        help="how long to wait for a subscriber of the replayed topics (5)")
    database.add_arguments(parser)


def main(args: argparse.Namespace) -> int:
    if not args.speed > 0:
        print(f"ether replay: --speed must be greater than 0, not {args.speed}", file=sys.stderr)
        return 2
    try:
        publish = fabric_publish_address(args.publish, fabric=args.fabric)
        store = database.open_database(args)
    except (FabricNotFound, SessionNotFound, DatabaseError, ConfigError) as exc:
        print(f"ether replay: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    try:
        session = store.resolve(args.session)
        summary = replay(store, session, publish, speed=args.speed, topics=args.topics, wait_s=args.wait)
    except SessionNotFound as exc:
        print(f"ether replay: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    if not summary.subscribed:
        print(f"ether replay: warning: nothing in the fabric at {publish} subscribed to the replayed topics "
              f"within {args.wait} s; messages were published anyway", file=sys.stderr)
    print(f"replayed {summary.messages} messages of session {session.id} in {summary.duration_s:.2f} s")
    return 0
