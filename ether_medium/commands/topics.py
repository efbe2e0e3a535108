"""``ether topics``: every topic of a running fabric with its rate, count, sources, message type and when it
was last seen. Watching costs the rig almost nothing (see :mod:`ether_medium.observe.sampler`): it listens
for ``--seconds`` (rates of slow topics need two messages), then prints a table or, with ``--json``, one JSON
array of ``{topic, rate_hz, count, sources, type, last_seen, device_time}``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from ether_medium import topics as fabric_topics
from ether_medium.observe.attach import add_fabric_argument, fabric_or_say_why
from ether_medium.observe.catalog import Catalog
from ether_medium.observe.sampler import Sampler, is_noise
from ether_medium.observe.stats import TopicStats
from ether_medium.observe.table import ago, table

HELP = "list the topics of a running fabric with their rates, counts, sources and types"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON array")
    parser.add_argument("--seconds", type=float, default=3.0, help="how long to listen (default 3)")
    parser.add_argument("--config", default=None,
                        help="the config for the types of instances' topics (default: the running one)")
    add_fabric_argument(parser)


def rows(stats: dict[str, TopicStats], catalog: Catalog, now: float) -> list[dict[str, Any]]:
    out = []
    for topic in sorted(stats):
        if is_noise(topic):
            continue
        s = stats[topic]
        out.append({
            "topic": topic,
            "rate_hz": round(s.rate_hz(now), 3),
            "count": s.count,
            "sources": sorted(s.sources),
            "type": catalog.type_of(topic) or s.fields(),
            "typed_by": catalog.origin_of(topic) or "observed",
            "last_seen": s.last_seen,
            "device_time": s.device_time,
            "fabric": fabric_topics.is_fabric_topic(topic),
        })
    return out


def _type_text(fields: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in fields.items()) + "}"


def main(args: argparse.Namespace) -> int:
    fabric = fabric_or_say_why("topics", args.fabric)
    if fabric is None:
        return 2
    sampler = Sampler(fabric.addresses, [""], name="topics")
    try:
        sampler.start()
        catalog = Catalog.of_fabric(fabric.addresses, args.config)
        deadline = time.monotonic() + args.seconds
        while (left := deadline - time.monotonic()) > 0:
            sampler.poll(left)
    except TimeoutError as exc:
        print(f"ether topics: {exc}", file=sys.stderr)
        return 2
    finally:
        sampler.close()
    found = rows(sampler.stats, catalog, time.time())
    if args.json:
        print(json.dumps(found))
        return 0
    body = [[r["topic"], f"{r['rate_hz']:.2f}", r["count"], ", ".join(r["sources"]), _type_text(r["type"]),
             ago(r["last_seen"])] for r in found]
    print(table(["TOPIC", "RATE_HZ", "COUNT", "SOURCES", "TYPE", "LAST SEEN"], body))
    for note in catalog.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0
