"""``ether plot TOPIC[.FIELD]...``: plot numeric fields of live topics in Rerun, with host time and device
time as timelines (see :mod:`ether_medium.observe.plot`). ``--save FILE.rrd`` writes a recording instead of
opening a viewer (headless); ``--web`` serves the web viewer on loopback; ``--session ID`` plots a
recording from the database instead of the live fabric.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

from ether_medium.errors import MissingExtra, SessionNotFound
from ether_medium.fabric.envelope import Envelope
from ether_medium.observe.attach import add_fabric_argument, fabric_or_say_why
from ether_medium.observe.plot import LivePlot, RerunSink, Selector
from ether_medium.recorder.store import DEFAULT_PATH

HELP = "plot numeric fields of live topics (or a recording) in Rerun"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("selectors", nargs="+", metavar="TOPIC[.FIELD]",
                        help="a topic (every numeric field) or one field of it")
    parser.add_argument("--save", metavar="FILE.rrd", default=None, help="write a Rerun recording, no viewer")
    parser.add_argument("--web", action="store_true", help="serve the web viewer on loopback")
    parser.add_argument("--web-port", type=int, default=9090, help="the web viewer's HTTP port (9090)")
    parser.add_argument("--grpc-port", type=int, default=9876, help="the web viewer's data port (9876)")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--session", default=None, help="plot a recorded session (id, prefix or 'latest')")
    parser.add_argument("--db", default=DEFAULT_PATH, help=f"recording database (default {DEFAULT_PATH})")
    add_fabric_argument(parser)


def _plot_session(args: argparse.Namespace, selectors: list[Selector], sink: RerunSink) -> int:
    from ether_medium.recorder.store import Store

    store = Store.open_existing(args.db)
    try:
        import cbor2

        session = store.resolve(args.session)
        wanted = sorted({p for s in selectors for p in s.patterns} & set(store.topics(session.id)))
        n = 0
        for row in store.messages(session.id, wanted):
            env = Envelope(row[1], cbor2.loads(row[8]), row[2], row[3], row[4], row[5], row[6], row[7])
            for sel in selectors:
                fields = sel.fields_of(env.topic)
                if fields is not None:
                    n += sink.log(env.topic, fields, env)
    finally:
        store.close()
    print(f"plotted {n} values of session {session.id}", file=sys.stderr)
    return 0


def main(args: argparse.Namespace) -> int:
    selectors = [Selector(s) for s in args.selectors]
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C ends the plot as --duration does
        signal.signal(sig, lambda *_: stop.set())
    try:
        sink = RerunSink("ether", save=args.save, web=args.web, web_port=args.web_port,
                         grpc_port=args.grpc_port)
    except MissingExtra as exc:
        print(f"ether plot: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # no viewer binary, no display: say what else works
        print(f"ether plot: cannot open a Rerun viewer ({exc}); use --save FILE.rrd or --web",
              file=sys.stderr)
        return 2
    if sink.url:
        print(f"ether plot: open {sink.url}", file=sys.stderr)
    try:
        if args.session is not None:
            try:
                return _plot_session(args, selectors, sink)
            except SessionNotFound as exc:
                print(f"ether plot: {exc}", file=sys.stderr)
                return 1
        fabric = fabric_or_say_why("plot", args.fabric)
        if fabric is None:
            return 2
        live = LivePlot(fabric.addresses, selectors, sink)
        if args.duration is not None:
            timer = threading.Timer(args.duration, stop.set)
            timer.daemon = True  # Ctrl-C before the end must not wait for it
            timer.start()
        try:
            live.start()
        except TimeoutError as exc:
            print(f"ether plot: {exc}", file=sys.stderr)
            return 2
        started = time.monotonic()
        try:
            live.run(stop)
        finally:
            live.stop()
        print(f"plotted {live.plotted} values in {time.monotonic() - started:.1f} s; dropped {live.dropped} "
              "messages (plotting behind)", file=sys.stderr)
        return 0
    finally:
        sink.close()
