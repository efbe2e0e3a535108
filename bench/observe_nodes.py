"""The observers bench/observe.py attaches to the fabric benchmark, each in its own process, doing what
the command of the same name does (the commands' own code: Sampler, LivePlot)."""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import tempfile
import time

from ether_medium.fabric.broker import BrokerAddresses
from ether_medium.observe.sampler import Sampler


def observe(kind: str, publish: str, subscribe: str, ready: mp.synchronize.Event,  # type: ignore[name-defined]
            stop: mp.synchronize.Event) -> None:  # type: ignore[name-defined]
    addresses = BrokerAddresses(publish, subscribe)
    out = open(os.devnull, "w")  # noqa: SIM115 - for the whole process
    if kind == "plot":
        from ether_medium.observe.plot import LivePlot, RerunSink, Selector

        with tempfile.TemporaryDirectory() as d:
            live = LivePlot(addresses, [Selector("bench.data")], RerunSink("bench", save=f"{d}/b.rrd"))
            live.start()
            ready.set()
            live.run(stop)
            live.stop()
            live.sink.close()
        return
    patterns = [""] if kind == "topics" else ["bench"]
    sampler = Sampler(addresses, patterns, name=kind)
    sampler.start()
    ready.set()
    from ether_medium.commands import hz, monitor

    while not stop.is_set():
        got = sampler.poll(0.5 if kind != "hz" else 1.0)
        if kind == "monitor":
            for env in got:
                print(monitor.as_line(env, None), file=out)
        elif kind == "hz":
            print(hz.render(sampler.stats, patterns, 100, time.time()), file=out)
    sampler.close()
    sys.stdout.flush()
