"""Decorated classes that bench/arrays.py runs as fabric instances: an array publisher (4 MB float32 frames,
or 100-byte messages) and a subscriber that counts, timestamps, acknowledges and writes a result file."""

from __future__ import annotations

import json
import os
import threading
import time

import numpy as np
from fabric_nodes import _pace  # bench/ is on the path of the instance processes

from ether_medium import ether_pub, ether_start, ether_sub
from ether_medium.fabric.arrays import loan_array


class ArrayPublisher:
    """Publishes ``count`` messages on ``arrays`` from a thread, then ``arrays.done``. ``kind``: ``copy`` (a
    1024x1024 float32 frame, copied into the slot), ``loan`` (filled in a loaned slot), ``small`` (a
    100-byte message). ``rate_hz`` paces it; else it goes as fast as the ``subs`` subscribers take it:
    never more than ``window`` messages ahead of the slowest one's acknowledgements (so none is dropped)."""

    def __init__(self, count: int, kind: str = "copy", rate_hz: float = 0.0, side: int = 1024, subs: int = 1,
                 window: int = 4):
        self.count, self.kind, self.side, self.subs, self.window = count, kind, side, subs, window
        self.period_ns = int(1e9 / rate_hz) if rate_hz else 0
        self.frame = np.random.default_rng(0).random((side, side), dtype=np.float32)
        self.t0_ns = 0
        self.acked: dict[str, int] = {}
        self.cond = threading.Condition()

    @ether_pub(topic="arrays")
    def emit(self, frame: np.ndarray, i: int) -> dict:
        return {"frame": frame, "i": i, "t0_ns": self.t0_ns, "sent_ns": time.perf_counter_ns()}

    @ether_pub(topic="arrays")
    def emit_small(self, i: int) -> dict:
        return {"payload": b"x" * 64, "i": i, "t0_ns": self.t0_ns, "sent_ns": time.perf_counter_ns()}

    @ether_pub(topic="arrays.done")
    def done(self) -> dict:
        return {"count": self.count}

    @ether_sub(topic="arrays.ack")
    def on_ack(self, name: str, i: int) -> None:
        with self.cond:
            self.acked[name] = i
            self.cond.notify()

    def _slowest(self) -> int:
        return min(self.acked.values()) if len(self.acked) == self.subs else -1

    @ether_start()
    def start(self) -> None:
        threading.Thread(target=self.run, daemon=True).start()  # acks arrive through the instance's loop

    def run(self) -> None:
        self.t0_ns = nxt = time.perf_counter_ns()  # (CLOCK_MONOTONIC: the same clock in every process)
        for i in range(self.count):
            if self.period_ns:
                _pace(nxt)
                nxt += self.period_ns
            else:
                with self.cond:
                    self.cond.wait_for(lambda i=i: i - self._slowest() <= self.window, timeout=5)
            if self.kind == "small":
                self.emit_small(i)
            elif self.kind == "loan":
                frame = loan_array("arrays", (self.side, self.side), np.float32)
                frame[0, 0] = i  # a camera driver writes its frame here
                self.emit(frame, i)
            else:
                self.emit(self.frame, i)
        time.sleep(0.2)
        self.done()


class ArraySubscriber:
    """Counts what arrives on ``arrays`` and acknowledges it; on ``arrays.done`` writes a JSON result."""

    def __init__(self, out: str):
        self.out = out
        self.name = os.path.basename(out)
        self.seen = 0
        self.first_ns = self.last_ns = 0
        self.latencies_ns: list[int] = []
        self.checksum = 0.0

    @ether_pub(topic="arrays.ack")
    def ack(self, i: int) -> dict:
        return {"name": self.name, "i": i}

    @ether_sub(topic="arrays")
    def on(self, i: int, t0_ns: int, sent_ns: int, frame: np.ndarray | None = None,
           payload: bytes = b"") -> None:
        now = time.perf_counter_ns()
        if frame is not None:
            self.checksum += float(frame[0, 1])  # touch it
        if self.seen == 0:
            self.first_ns = t0_ns  # from the publisher's start: end to end
        self.last_ns = now
        self.seen += 1
        self.latencies_ns.append(now - sent_ns)
        self.ack(i)

    @ether_sub(topic="arrays.done")
    def finish(self, count: int) -> None:
        from ether_medium.fabric import shm

        result = {"seen": self.seen, "sent": count, "dropped": shm.dropped,
                  "seconds": (self.last_ns - self.first_ns) / 1e9, "latencies_ns": self.latencies_ns}
        tmp = self.out + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(result, fh)
        os.replace(tmp, self.out)
