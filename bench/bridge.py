"""Bridge benchmark (prints figures, asserts nothing). Run: ``.venv/bin/python bench/bridge.py``.

1. Round trip host -> device -> host over a pty, the device being ether_lite under CPython in its own
   process: DELIVER to a device subscriber until its ACK is back (what ``proxy.set_led(on=True)`` waits
   for, minus the fabric), and PING -> PONG. Target: p50 <= 0.5 ms.
2. Ingest: readings from one device link through its bridge into a decorated subscriber instance, as a
   ratio to the fabric benchmark (bench/fabric.py: decorated publisher instance -> decorated subscriber
   instance) measured in the same run, rounds alternating. Two device variants: ether_lite publishing in a
   loop (the device's own speed included; target >= 0.35), and a device replaying frames ether_lite encoded
   at the start of each burst (the bridge's own ceiling; target >= 0.5). The tap process holds no device
   proxy while a burst runs: the fabric benchmark has one subscriber, so this one has one too.
"""

from __future__ import annotations

import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from ether_medium.bridge.loop import BridgeLoop  # noqa: E402
from ether_medium.bridge.manager import ATTACHED, Delivery, LinkManager  # noqa: E402
from ether_medium.fabric.process import stop_process  # noqa: E402

DEVICE = textwrap.dedent(r"""
    import os, sys, tty
    from ether_lite import Node, cbor, clock, ether_pub, ether_sub, framing, protocol
    from ether_lite.links.pipe import PipeLink

    class Bench:
        def __init__(self):
            self.frames = None
            self.replay_seq = 0
            self.todo = None

        @ether_pub(fields=[["celsius", "f"]])
        def read(self):
            return {"celsius": 21.5}

        @ether_pub(fields=[["celsius", "f"]])
        def replayed(self):  # described like read; its PUBs are written by replay() below
            return None

        @ether_sub()
        def set_led(self, on: bool):
            self.on = on

        @ether_sub()
        def burst(self, n: int, replay: bool):
            self.todo = (n, replay)  # after the ACK has gone out

        def do_burst(self, node, m, n, replay):
            if not replay:
                for _ in range(n):
                    self.read()
                return
            # PUBs with sequence numbers 0..511, encoded by ether_lite, stamped with the device's time now
            # (a burst takes a fraction of a second: the bridge maps them as it maps live readings)
            # node.endpoints entries start with their DESCRIBE: [h, topic_id, name, ...]
            tid = [e[1] for e in node.endpoints if e[2] == "Bench.replayed"][0]
            ticks = clock.ticks_ms()
            self.frames = [framing.encode_frame(cbor.dumps(protocol.pub(tid, i, ticks, [21.5])))
                           for i in range(512)]
            s = self.replay_seq
            order = self.frames[s:] + self.frames[:s]  # continue the sequence
            block = b"".join(order)
            full, rest = divmod(n, 512)
            for _ in range(full):
                os.write(m, block)
            os.write(m, b"".join(order[:rest]))
            self.replay_seq = (s + n) % 512

    m, s = os.openpty()
    tty.setraw(s)
    print(os.ttyname(s), flush=True)
    b = Bench()
    node = Node(b, PipeLink(m, m), device_id="bench")
    while True:
        if not node.poll():
            node.link.wait(node.next_due_ms())
        if b.todo:
            todo, b.todo = b.todo, None
            b.do_burst(node, m, *todo)
""")


def _start(code: str, *args: str, stdin: bool = False) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE if stdin else None,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )


def _readline(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> str:
    assert proc.stdout is not None
    r, _, _ = select.select([proc.stdout], [], [], timeout_s)
    if not r:
        raise RuntimeError("child printed nothing")
    return proc.stdout.readline().decode().strip()


class _Null:
    def attached(self, mgr: object) -> None: ...
    def detached(self, mgr: object, reason: str) -> None: ...
    def publish(self, *a: object) -> None: ...
    def device_log(self, *a: object) -> None: ...


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def round_trip(n: int = 3000) -> None:
    dev = _start(DEVICE)
    try:
        pty = _readline(dev)
        mgr = LinkManager("bench", f"serial://{pty}", _Null(), ping_interval_s=0.002)
        loop = BridgeLoop()
        loop.add(mgr)
        mgr.start()
        deadline = time.monotonic() + 10
        while mgr.state != ATTACHED:
            loop.step(0.05)
            if time.monotonic() > deadline:
                raise RuntimeError("device did not attach")
        rtts: list[float] = []
        for i in range(n + 200):
            done: list[Delivery] = []
            mgr.deliver("Bench.set_led", {"on": bool(i & 1)}, done.append)
            while not done:
                loop.step(0.05)
            if done[0].error is not None:
                raise RuntimeError(done[0].error)
            if i >= 200:
                rtts.append(done[0].rtt or 0.0)
        # PING/PONG: let the manager ping every 2 ms for a while and keep its samples
        pongs0 = mgr.counters.pongs
        samples: list[float] = []
        t_end = time.monotonic() + 2.0
        orig = mgr.clock.add_pong

        def record(t_send: float, t_recv: float, ticks: int) -> object:
            samples.append(t_recv - t_send)
            return orig(t_send, t_recv, ticks)

        mgr.clock.add_pong = record  # type: ignore[method-assign]
        while time.monotonic() < t_end:
            loop.step(0.01)
        mgr.close()
        loop.close()
        print(
            f"round trip over a pty, CPython ether_lite device ({n} DELIVER->ACK): "
            f"p50 {_pct(rtts, 50) * 1e3:.3f} ms, p99 {_pct(rtts, 99) * 1e3:.3f} ms, "
            f"mean {statistics.fmean(rtts) * 1e3:.3f} ms   (target p50 <= 0.5 ms)"
        )
        if samples:
            print(
                f"PING->PONG ({mgr.counters.pongs - pongs0} samples): p50 {_pct(samples, 50) * 1e3:.3f} ms, "
                f"p99 {_pct(samples, 99) * 1e3:.3f} ms"
            )
    finally:
        stop_process(dev)


def _results(path: str, n: int, timeout_s: float) -> list[dict[str, float]]:
    deadline = time.monotonic() + timeout_s
    while True:
        lines = Path(path).read_text().splitlines() if os.path.exists(path) else []
        if len(lines) >= n:
            return [json.loads(line) for line in lines]
        if time.monotonic() > deadline:
            raise TimeoutError(f"the subscriber reported {len(lines)} of {n} bursts")
        time.sleep(0.01)


def ingest(rounds: int = 3, count: int = 20_000) -> None:
    """Per round: the fabric benchmark (bench/fabric.py: a decorated publisher instance to a decorated
    subscriber instance, ``count`` messages), then a device's ``count`` readings through its bridge into a
    decorated subscriber instance, published by ether_lite in a loop and replayed. Rounds alternate, so
    machine load hits both alike; the figure is the median of the per-round ratios."""
    import fabric as fabric_bench  # bench/fabric.py

    from ether_medium import ether

    dev = _start(DEVICE)
    ratios: dict[bool, list[float]] = {False: [], True: []}
    try:
        pty = _readline(dev)
        for r in range(rounds):
            base = fabric_bench.fabric(count)
            base_rate = (base["count"] - 1) / base["seconds"]
            with tempfile.TemporaryDirectory() as d:
                out = os.path.join(d, "ingest.jsonl")
                ether.tap(
                    config={
                        "instances": {
                            "subscriber": {
                                "class_path": "bridge_nodes.IngestSubscriber",
                                "kwargs": {"count": count, "out": out},
                            }
                        },
                        "devices": {"bench": {"link": f"serial://{pty}", "device_id": "bench"}},
                    }
                )
                try:
                    ether.start()
                    from ether_medium.bridge.proxy import close_all

                    ether.device("bench", timeout=15)  # attached
                    close_all()  # its listener would be a second subscriber decoding every reading
                    line = f"round {r + 1}: fabric benchmark {base_rate:,.0f} msg/s"
                    for i, replay in enumerate((False, True)):
                        ether.publish("Bench.burst", {"n": count, "replay": replay})
                        res = _results(out, i + 1, 120)[i]
                        assert res["topic"] == ("Bench.replayed" if replay else "Bench.read"), res
                        rate = (res["count"] - 1) / res["seconds"]
                        ratios[replay].append(rate / base_rate)
                        line += f"; {'replayed frames' if replay else 'ether_lite loop'} {rate:,.0f} msg/s"
                    print(line, flush=True)
                    close_all()
                finally:
                    ether.shutdown()
        for replay, what, target in (
            (False, "ether_lite device publishing in a loop", 0.35),
            (True, "device replaying frames ether_lite encoded (the bridge's own ceiling)", 0.5),
        ):
            rs = ratios[replay]
            print(
                f"ingest into a fabric subscriber / fabric benchmark, {what}: "
                f"median {statistics.median(rs):.2f} "
                f"(rounds {', '.join(f'{x:.2f}' for x in rs)})   (target >= {target})"
            )
        print(f"  (load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    finally:
        stop_process(dev)


def breakdown(n: int = 20_480, chunk: int = 256) -> None:
    """Where a bridge process spends its CPU time per reading, measured in this process (thread CPU time,
    best of 3) on frames ether_lite encoded, read ``chunk`` bytes at a time (a pty read in the ingest runs
    brings 100-400 bytes): framing (ether_lite.framing), then decode, checks, sequence and time mapping up
    to the sink, then the fabric envelope and send (the loop's flush after each read); next to a plain
    ``publish_data`` of the same payload."""
    import cbor2

    from ether_lite import cbor, framing, protocol
    from ether_medium.bridge.links import Link
    from ether_medium.bridge.service import FabricBridge
    from ether_medium.config import DeviceConfig
    from ether_medium.fabric.broker import Broker
    from ether_medium.fabric.client import FabricClient

    class _Quiet(Link):  # the frames are fed by hand below
        def open(self) -> None: ...
        def fileno(self) -> int:
            return -1

        def read(self) -> bytes:
            return b""

        def write(self, data: bytes) -> None: ...
        def close(self) -> None: ...
        @property
        def is_open(self) -> bool:
            return True

    def best(run: Callable[[], None]) -> float:
        times = []
        for _ in range(3):
            t = time.thread_time()
            run()
            times.append((time.thread_time() - t) / n)
        return min(times)

    broker = Broker()
    broker.start()
    client = FabricClient(broker.addresses, "bench.breakdown")
    try:
        fb = FabricBridge("bench", DeviceConfig(link="cmd:true"), client, BridgeLoop())
        mgr = fb.mgr = LinkManager("bench", _Quiet("bench:"), fb)  # the fabric bridge as its sink
        t0 = time.monotonic()
        mgr.on_link_opened(t0)
        for msg in (
            protocol.hello("bench", 1, "bench", 1, 1 << 30),
            protocol.describe(0, "Bench.read", protocol.DEVICE_PUBLISHES, [["celsius", "f"]], None),
        ):
            mgr.inbound.dispatch(cbor2.dumps(msg), t0)
        mgr.clock.add_pong(t0 - 0.0001, t0, 5000)
        # stamped when the PONG was (every read below is "received" a microsecond after the one before, so
        # the time mapping holds), numbered on from run to run (n is a multiple of 512)
        data = b"".join(framing.encode_frame(cbor.dumps(protocol.pub(0, i, 5000, [21.5]))) for i in range(n))
        chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
        clock = [t0]

        def read_path() -> None:
            feed = mgr.inbound.feed
            for c in chunks:
                clock[0] += 1e-6
                feed(c, clock[0])
                fb.flush()

        def framing_only() -> None:
            dec = framing.FrameDecoder()
            for c in chunks:
                dec.frames(c)

        def plain() -> None:
            for _ in range(n):
                client.publish_data("Bench.plain", {"celsius": 21.5})

        t_frame = best(framing_only)
        t_all = best(read_path)
        publish = fb.publish
        fb.publish = lambda *a: None  # type: ignore[method-assign]
        t_ingest = best(read_path)
        fb.publish = publish  # type: ignore[method-assign]
        t_plain = best(plain)
        assert mgr.counters.published == 6 * n and mgr.counters.sequence_gaps == 0, mgr.counters
        print(
            f"bridge process CPU per reading ({chunk}-byte reads): {t_all * 1e6:.2f} us = framing"
            f" {t_frame * 1e6:.2f} + decode, checks, sequence, time {(t_ingest - t_frame) * 1e6:.2f}"
            f" + envelope and send {(t_all - t_ingest) * 1e6:.2f}; a plain fabric publish_data"
            f" {t_plain * 1e6:.2f} us"
        )
    finally:
        client.close(bye=False)
        broker.stop()


if __name__ == "__main__":
    round_trip()
    breakdown()
    ingest()
