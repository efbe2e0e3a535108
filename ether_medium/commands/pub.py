"""``ether pub TOPIC JSON``: publish a message into a running fabric, once or ``--count N`` times, at
``--rate HZ``.

The message is checked first against what the topic's receivers declare: a device's subscriber (from its
DESCRIBE, through its bridge) validates field names and types, and such a message goes to the board as a
request, so each is answered with the board's ACK and round-trip time (or the reason it failed). The fields
that the running config's subscribers need are checked too (``--config`` names another config).
``--no-check`` skips the checks.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from pydantic import ValidationError

from ether_medium.errors import RemoteError
from ether_medium.fabric.requests import Requester
from ether_medium.fabric.validation import describe_errors
from ether_medium.observe.attach import add_fabric_argument, fabric_or_say_why
from ether_medium.observe.catalog import Catalog

HELP = "publish a message (once, or at a rate) into a running fabric"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topic")
    parser.add_argument("json", metavar="JSON", help='the payload, a JSON object: \'{"on": true}\'')
    parser.add_argument("--rate", type=float, default=None, help="messages per second (with --count, or "
                        "until Ctrl-C)")
    parser.add_argument("--count", type=int, default=None, help="how many (default 1; with --rate: no end)")
    parser.add_argument("--config", default=None,
                        help="the config whose subscribers to check against (default: the running one)")
    parser.add_argument("--no-check", action="store_true", help="publish without checking the fields")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for a device's ACK")
    add_fabric_argument(parser)


def check(catalog: Catalog, topic: str, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as the topic's receivers will take it; ``ValueError`` saying what does not fit."""
    ep = catalog.described.get(topic)
    if ep is not None and ep.get("direction") == "sub" and ep.get("fields") is not None:
        from ether_medium.bridge.endpoints import build_model

        fields = [(str(f[0]), str(f[1])) for f in ep["fields"]]
        defaults = {str(f[0]): f[2] for f in ep["fields"] if len(f) > 2}
        try:
            build_model(topic, fields, defaults).model_validate(data)
        except ValidationError as exc:
            names = ", ".join(f"{n}: {t}" for n, t in fields)
            raise ValueError(f"does not fit device {catalog.device_subscribers.get(topic)}'s subscriber "
                             f"({names}): {describe_errors(exc)}") from None
    missing = sorted(catalog.required.get(topic, frozenset()) - data.keys())
    if missing:
        raise ValueError(f"lacks field(s) {', '.join(missing)}, which the config's subscribers need "
                         f"({catalog.required_by.get(topic)})")
    return data


def main(args: argparse.Namespace) -> int:
    try:
        data = json.loads(args.json)
    except ValueError as exc:
        print(f"ether pub: JSON is not valid JSON ({exc}): give an object such as '{{\"on\": true}}'",
              file=sys.stderr)
        return 2
    if not isinstance(data, dict):
        print(f"ether pub: JSON must be an object (field -> value), got {type(data).__name__}",
              file=sys.stderr)
        return 2
    fabric = fabric_or_say_why("pub", args.fabric)
    if fabric is None:
        return 2
    catalog = Catalog.of_fabric(fabric.addresses, args.config)
    if not args.no_check:
        try:
            data = check(catalog, args.topic, data)
        except ValueError as exc:
            print(f"ether pub: {args.topic}: the message {exc}", file=sys.stderr)
            return 2
    device = catalog.device_subscribers.get(args.topic)
    count = args.count if args.count is not None else (None if args.rate else 1)
    period = 1.0 / args.rate if args.rate else 0.0
    requester = Requester(fabric.addresses, "pub")
    failed = sent = 0
    next_at = time.monotonic()
    try:
        while count is None or sent < count:
            if device is None:
                requester.client.publish(args.topic, data, source="pub")
                print(f"published on {args.topic}: {json.dumps(data)}")
            else:
                try:
                    answer = requester.get(args.topic, args.timeout, data)
                    rtt = (answer or {}).get("rtt_s")
                    ms = f" in {rtt * 1000:.1f} ms" if isinstance(rtt, (int, float)) else ""
                    print(f"{args.topic}: delivered to device {device}, acknowledged{ms}")
                except (TimeoutError, RemoteError) as exc:
                    failed += 1
                    print(f"{args.topic}: not delivered to device {device}: {exc}", file=sys.stderr)
            sent += 1
            if count is not None and sent >= count:
                break
            next_at += period
            time.sleep(max(0.0, next_at - time.monotonic()))
    except KeyboardInterrupt:
        pass
    finally:
        requester.close()
    return 1 if failed else 0
