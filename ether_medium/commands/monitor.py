"""``ether monitor TOPIC``: print the messages on a topic of a running fabric.

The tap process writes its broker addresses to a well-known file (see
:func:`ether_medium.fabric.launcher.fabric_file`: ``$ETHER_STATE_DIR/fabric.json``, else
``$XDG_RUNTIME_DIR/ether/fabric.json``, else ``./.ether/fabric.json``); ``--fabric FILE`` names another.
``TOPIC`` is matched exactly; end it with ``.`` for a prefix (``Ether.``) or give ``""`` for everything.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from ether_medium.errors import EnvelopeError
from ether_medium.fabric.broker import BrokerAddresses
from ether_medium.fabric.client import FabricClient
from ether_medium.fabric.statefile import fabric_file

HELP = "print the messages on a topic of a running fabric"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topic", help='topic name; "Prefix." for a prefix, "" for every topic')
    parser.add_argument("--fabric", default=None, help="the fabric file of the running session")
    parser.add_argument("--count", type=int, default=None, help="exit after this many messages")
    parser.add_argument("--duration", type=float, default=None, help="exit after this many seconds")


def main(args: argparse.Namespace) -> int:
    path = args.fabric or fabric_file()
    try:
        with open(path) as fh:
            info = json.load(fh)
        addresses = BrokerAddresses.from_env(info)
    except (OSError, ValueError, RuntimeError) as exc:
        print(
            f"ether monitor: no running fabric found in {path} ({exc}); start one with `ether run CONFIG` "
            "or give --fabric FILE",
            file=sys.stderr,
        )
        return 2
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
