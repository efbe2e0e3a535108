"""``ether monitor TOPIC``: print the messages on a topic of a running fabric.

Each running session's tap process writes its broker addresses to a file of its own
(:mod:`ether_medium.fabric.statefile`: ``fabric-<session>.json`` in ``$ETHER_STATE_DIR``, else
``$XDG_RUNTIME_DIR/ether``, else ``./.ether``). With one session running, that one is monitored; with
several, ``--fabric SESSION`` (an id or a unique prefix, or a fabric file) chooses, or on a terminal the user
is asked.
``TOPIC`` is matched exactly; end it with ``.`` for a prefix (``Ether.``) or give ``""`` for everything.
"""

from __future__ import annotations

import argparse
import sys
import time

from ether_medium.errors import EnvelopeError, FabricNotFound
from ether_medium.fabric.broker import BrokerAddresses
from ether_medium.fabric.client import FabricClient
from ether_medium.fabric.statefile import find_fabric

HELP = "print the messages on a topic of a running fabric"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topic", help='topic name; "Prefix." for a prefix, "" for every topic')
    parser.add_argument("--fabric", default=None, metavar="SESSION|FILE",
                        help="which running fabric: its session id (or a unique prefix) or its fabric file "
                             "(needed when several run and this is not a terminal)")
    parser.add_argument("--count", type=int, default=None, help="exit after this many messages")
    parser.add_argument("--duration", type=float, default=None, help="exit after this many seconds")


def main(args: argparse.Namespace) -> int:
    try:
        fabric = find_fabric(args.fabric)
        addresses = BrokerAddresses.from_env(fabric.info)
    except (FabricNotFound, ValueError, RuntimeError) as exc:
        print(f"ether monitor: {exc}", file=sys.stderr)
        return 2
    info = fabric.info
    client = FabricClient(addresses, "monitor")
    client.subscribe(args.topic)
    try:
        client.handshake(5.0)
    except TimeoutError as exc:
        print(f"ether monitor: {exc}", file=sys.stderr)
        client.close(bye=False)
        return 2
    print(f"monitoring {args.topic!r} of session {info.get('session')} (Ctrl-C to stop)", file=sys.stderr)
    seen = 0
    deadline = None if args.duration is None else time.monotonic() + args.duration
    try:
        while args.count is None or seen < args.count:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            try:
                env = client.recv(left)
            except EnvelopeError as exc:
                print(f"malformed message: {exc}", file=sys.stderr)
                continue
            if env is None:
                break
            seen += 1
            stamp = (
                time.strftime("%H:%M:%S", time.localtime(env.host_time))
                + f".{int(env.host_time % 1 * 1000):03d}"
            )
            print(f"{stamp} {env.topic} from {env.source} #{env.seq}: {env.data}", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        client.close(bye=False)
    return 0
