"""``ether keys DIR [--name NAME]``: create this machine's CURVE key pair for a fabric across machines.

Writes ``DIR/NAME.key`` (the public key: copy it) and ``DIR/NAME.key_secret`` (the pair: it never leaves
this machine, readable by its owner only), and prints what goes where. Exit status 0, or 1 when the files
exist already or cannot be written.
"""

from __future__ import annotations

import argparse
import socket
import sys

HELP = "create a CURVE key pair for joining machines into one fabric"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", help="where to write NAME.key and NAME.key_secret (created if missing)")
    parser.add_argument("--name", default=None, help="the key's name (default: this machine's host name)")


def main(args: argparse.Namespace) -> int:
    from ether_medium.fabric.curve import create_keys, load_public_key

    name = args.name or socket.gethostname().split(".")[0] or "ether"
    try:
        public, secret = create_keys(args.directory, name)
    except (OSError, FileExistsError) as exc:
        print(f"ether keys: {exc}", file=sys.stderr)
        return 1
    key = load_public_key(str(public)).decode("ascii")
    print(f"public key {key}")
    print(f"  {public}  (public: copy it to the other machine)")
    print(f"  {secret}  (secret: keep it here; fabric.curve.key names it)")
    print(
        "On the broker machine (the one that runs `ether run` with fabric.transport: tcp), in its config:\n"
        "  fabric:\n"
        "    transport: tcp\n"
        "    host: 0.0.0.0\n"
        "    port: 5555                      # and 5556\n"
        "    curve:\n"
        f"      key: {secret}\n"
        "      authorized: keys/authorized   # the NAME.key of every machine allowed to join\n"
        "On a joining machine, in its config (and the broker machine's NAME.key copied there):\n"
        "  fabric:\n"
        "    curve:\n"
        f"      key: {secret}\n"
        "      server_key: keys/BROKER.key\n"
        "then `ether run remote.yaml --join tcp://BROKER-HOST:5555`."
    )
    return 0
