"""``ether monitor TOPIC...``: print the messages on topics of a running fabric, as lines of
``time topic from source #seq: field=value ...`` or, with ``--json``, JSON lines
``{"topic", "source", "seq", "host_time", "device_time", "data"}``; ``--fields a,b`` keeps those fields.

``--table`` shows instead one row per topic with its newest message, redrawn in place.

``TOPIC`` is matched exactly; end it with ``.`` for a prefix (``Ether.``) or give ``""`` for everything. The
fabric's own chatter (lifecycle, ``Ether.recorder.progress``, handshakes) is hidden under ``""`` and
``Ether.`` unless ``--lifecycle``; name such a topic exactly to see it. A topic with no message in 3 s gets a
hint with the closest live topic names. A topic faster than the observer reads in full (500 msg/s) is shown
in samples, with a note, unless ``--every`` (see :mod:`ether_medium.observe.sampler`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from ether_medium import topics
from ether_medium.fabric.envelope import Envelope
from ether_medium.observe.attach import add_fabric_argument, fabric_or_say_why
from ether_medium.observe.hints import never_seen_hint
from ether_medium.observe.sampler import Sampler
from ether_medium.observe.table import LiveScreen, table

HELP = "print the messages on topics of a running fabric (JSON lines or a table)"

_CHATTER = (*topics.PHASES, topics.DONE, topics.READY, topics.ROLLCALL, topics.BYE, topics.STATUS)
_CHATTER_PREFIXES = (topics.RECORDER_PREFIX, "Ether.probe.", "Ether.reply.", topics.BRIDGE_PREFIX)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topics", nargs="+", metavar="TOPIC",
                        help='topic name; "Prefix." for a prefix, "" for every topic')
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    parser.add_argument("--table", action="store_true",
                        help="a table of each topic's newest message, redrawn in place")
    parser.add_argument("--fields", default=None, help="comma-separated fields of the payload to show")
    parser.add_argument("--lifecycle", action="store_true",
                        help="also show lifecycle, progress and handshake topics under a prefix")
    parser.add_argument("--every", action="store_true", help="read every message, even of a fast topic")
    parser.add_argument("--count", type=int, default=None, help="exit after this many messages")
    parser.add_argument("--duration", type=float, default=None, help="exit after this many seconds")
    add_fabric_argument(parser)


def is_chatter(topic: str) -> bool:
    return topic in _CHATTER or topic.startswith(_CHATTER_PREFIXES)


def shown(topic: str, patterns: list[str], lifecycle: bool) -> bool:
    if lifecycle or not is_chatter(topic):
        return True
    return any(p == topic or (p.endswith(".") and p not in ("", topics.PREFIX) and topic.startswith(p))
               for p in patterns)


def as_json(env: Envelope, fields: list[str] | None) -> str:
    data = env.data if fields is None else {k: env.data.get(k) for k in fields}
    out: dict[str, Any] = {"topic": env.topic, "source": env.source, "seq": env.seq,
                           "host_time": env.host_time}
    if env.device_time is not None:
        out["device_time"] = env.device_time
    out["data"] = data
    return json.dumps(out, default=repr)


def as_line(env: Envelope, fields: list[str] | None) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(env.host_time)) + f".{int(env.host_time % 1 * 1000):03d}"
    data = env.data if fields is None else {k: env.data.get(k) for k in fields}
    values = " ".join(f"{k}={json.dumps(v, default=repr)}" for k, v in data.items())
    return f"{stamp} {env.topic} from {env.source} #{env.seq}: {values}"


def render_table(newest: dict[str, Envelope], fields: list[str] | None) -> str:
    """One row per topic: its newest message's source, sequence number, age and fields."""
    names = fields or list(dict.fromkeys(k for _, env in sorted(newest.items()) for k in env.data))
    now = time.time()
    rows = [[topic, env.source, env.seq, f"{now - env.host_time:.1f}",
             *(json.dumps(env.data[k], default=repr) if k in env.data else "" for k in names)]
            for topic, env in sorted(newest.items())]
    return table(["TOPIC", "SOURCE", "SEQ", "AGE_S", *names], rows)


def main(args: argparse.Namespace) -> int:
    fabric = fabric_or_say_why("monitor", args.fabric)
    if fabric is None:
        return 2
    fields = [f.strip() for f in args.fields.split(",") if f.strip()] if args.fields else None
    sampler = Sampler(fabric.addresses, args.topics, name="monitor", every=args.every)
    try:
        sampler.start()
    except TimeoutError as exc:
        print(f"ether monitor: {exc}", file=sys.stderr)
        sampler.close()
        return 2
    names = ", ".join(repr(t) for t in args.topics)
    print(f"monitoring {names} of session {fabric.session} (Ctrl-C to stop)", file=sys.stderr)
    fmt = as_json if args.json else as_line
    screen = LiveScreen() if args.table else None
    newest: dict[str, Envelope] = {}
    seen = 0
    start = time.monotonic()
    deadline = None if args.duration is None else start + args.duration
    hinted: set[str] = set()
    sampled_noted: set[str] = set()
    try:
        while args.count is None or seen < args.count:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            for env in sampler.poll(min(0.5, deadline - now) if deadline is not None else 0.5):
                if not shown(env.topic, args.topics, args.lifecycle):
                    continue
                if screen is None:
                    print(fmt(env, fields), flush=True)
                else:
                    newest[env.topic] = env
                seen += 1
                if args.count is not None and seen >= args.count:
                    break
            if screen is not None and newest:
                screen.show(render_table(newest, fields))
            for topic in sampler.fast - sampled_noted:
                sampled_noted.add(topic)
                rate = sampler.stats[topic].rate_hz(time.time())
                print(f"note: {topic} runs at {rate:.0f} msg/s: showing samples of it (--every shows all)",
                      file=sys.stderr)
            if not hinted and time.monotonic() - start >= 3.0:
                hinted.add("done")
                for line in never_seen_hint(fabric.addresses, args.topics, sampler.stats):
                    print(line, file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        if screen is not None:
            if newest:
                screen.show(render_table(newest, fields))
            screen.close()
        sampler.close()
    return 0
