"""Decorated classes that bench/fabric.py runs as fabric instances (also bench/cluster.py, observe.py,
recorder.py and arrays.py), and :func:`pair_instances`, the ``instances:`` that run them."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from ether_medium import ether_pub, ether_start, ether_sub


def _pace(deadline_ns: int) -> None:
    """Sleep until 0.3 ms before ``deadline_ns`` (perf_counter), then spin: 1 kHz without a busy core."""
    left = deadline_ns - time.perf_counter_ns()
    if left > 300_000:
        time.sleep((left - 300_000) / 1e9)
    while time.perf_counter_ns() < deadline_ns:
        pass


class BenchPublisher:
    def __init__(self, count: int, rate_hz: float = 0.0, latency: bool = False):
        self.count = count
        self.period_ns = int(1e9 / rate_hz) if rate_hz else 0
        self.latency = latency

    @ether_pub(topic="bench")
    def emit(self, data: int) -> dict:
        return {"data": data}

    @ether_pub(topic="bench")
    def emit_stamped(self, data: int) -> dict:
        return {"data": data, "sent_ns": time.perf_counter_ns()}

    @ether_start()
    def run(self) -> None:
        if self.period_ns:
            nxt = time.perf_counter_ns()
            for i in range(self.count):
                _pace(nxt)
                self.emit_stamped(i)
                nxt += self.period_ns
        else:
            emit = self.emit
            for i in range(self.count):
                emit(i)


class BenchSubscriber:
    def __init__(self, count: int, out: str):
        self.count = count
        self.out = out
        self.seen = 0
        self.first_ns = 0
        self.latencies_ns: list[int] = []

    @ether_sub(topic="bench")
    def on(self, data: int, sent_ns: int = 0) -> None:
        now = time.perf_counter_ns()
        if self.seen == 0:
            self.first_ns = now
        self.seen += 1
        if sent_ns:
            self.latencies_ns.append(now - sent_ns)
        if self.seen == self.count:
            result = {
                "count": self.seen,
                "seconds": (now - self.first_ns) / 1e9,
                "latencies_ns": self.latencies_ns,
                "pid": os.getpid(),
            }
            tmp = self.out + ".tmp"
            with open(tmp, "w") as fh:
                json.dump(result, fh)
            os.replace(tmp, self.out)


def pair_instances(count: int, out: str | Path, rate_hz: float = 0.0) -> dict[str, Any]:
    """The ``instances:`` of one run: a :class:`BenchPublisher` sending ``count`` messages (as fast as it can,
    or at ``rate_hz`` with send times for latency) to a :class:`BenchSubscriber` that writes its figures to
    ``out`` (read them with ``result_files.wait_for_result``)."""
    subscriber = {"count": count, "out": str(out)}
    publisher = {"count": count, "rate_hz": rate_hz}
    return {
        "subscriber": {"class_path": "fabric_nodes.BenchSubscriber", "kwargs": subscriber},
        "publisher": {"class_path": "fabric_nodes.BenchPublisher", "kwargs": publisher},
    }
