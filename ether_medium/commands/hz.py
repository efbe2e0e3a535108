"""``ether hz TOPIC...``: the rate of topics of a running fabric and the intervals between their messages
(mean, min, max, jitter = standard deviation), redrawn every second, like ``ros2 topic hz``.

The rate counts every message (from the publishers' sequence numbers). The intervals are measured between
consecutive messages of one publisher, from the times they were published; on a topic faster than 2000
msg/s, which is read in short windows only, they come from those windows."""

from __future__ import annotations

import argparse
import sys
import time

from ether_medium.observe.attach import add_fabric_argument, fabric_or_say_why
from ether_medium.observe.hints import never_seen_hint
from ether_medium.observe.sampler import Sampler
from ether_medium.observe.stats import TopicStats
from ether_medium.observe.table import LiveScreen, table

HELP = "show the rate and intervals of topics of a running fabric, updating in place"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topics", nargs="+", metavar="TOPIC", help='topic name ("Prefix." for a prefix)')
    parser.add_argument("--window", type=int, default=100, help="intervals to average over (default 100)")
    parser.add_argument("--duration", type=float, default=None, help="exit after this many seconds")
    add_fabric_argument(parser)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def render(stats: dict[str, TopicStats], patterns: list[str], window: int, now: float) -> str:
    rows = []
    for topic in sorted(stats):
        s = stats[topic]
        iv = s.interval_stats(window)
        rows.append([topic, f"{s.rate_hz(now):.2f}", s.count,
                     *((_ms(iv.mean_s), _ms(iv.min_s), _ms(iv.max_s), _ms(iv.jitter_s), iv.count) if iv
                       else ("-", "-", "-", "-", 0))])
    waiting = [p for p in patterns if not any(t == p or (p.endswith(".") and t.startswith(p)) for t in stats)]
    text = table(["TOPIC", "RATE_HZ", "COUNT", "MEAN_MS", "MIN_MS", "MAX_MS", "JITTER_MS", "WINDOW"], rows)
    return text + "".join(f"\n{p}: no message yet" for p in waiting)


def main(args: argparse.Namespace) -> int:
    fabric = fabric_or_say_why("hz", args.fabric)
    if fabric is None:
        return 2
    # read in full up to 2000 msg/s (every interval of a 1 kHz sensor); faster topics in windows
    sampler = Sampler(fabric.addresses, args.topics, name="hz", fast_hz=2000.0, budget_hz=4000.0)
    screen = LiveScreen()
    start = time.monotonic()
    hinted = False
    try:
        sampler.start()
        while args.duration is None or time.monotonic() - start < args.duration:
            left = 1.0 if args.duration is None else min(1.0, args.duration - (time.monotonic() - start))
            sampler.poll(max(left, 0.0))
            screen.show(render(sampler.stats, args.topics, args.window, time.time()))
            if not hinted and time.monotonic() - start >= 3.0:
                hinted = True
                for line in never_seen_hint(fabric.addresses, args.topics, sampler.stats):
                    print(line, file=sys.stderr)
    except TimeoutError as exc:
        print(f"ether hz: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    finally:
        screen.close()
        sampler.close()
    return 0
