"""Bridge benchmark (prints figures, asserts nothing). Run: ``.venv/bin/python bench/bridge.py``.

1. Round trip host -> device -> host over a pty, the device being ether_lite under CPython in its own
   process: DELIVER to a device subscriber until its ACK is back (what ``proxy.set_led(on=True)`` waits
   for, minus the fabric), and PING -> PONG. Target: p50 <= 0.5 ms.
2. Ingest: readings from one device link into a fabric subscriber, as a ratio to a raw fabric publisher
   (``FabricClient.publish`` in a loop, same payload) measured in the same run. Target: >= 0.5. Two
   device variants: ether_lite publishing in a loop (the device's own speed included), and a device
   replaying frames ether_lite encoded beforehand (the bridge's own ceiling).
"""

from __future__ import annotations

import os
import select
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ether_medium.bridge.loop import BridgeLoop  # noqa: E402
from ether_medium.bridge.manager import ATTACHED, Delivery, LinkManager  # noqa: E402
from ether_medium.broker import Broker  # noqa: E402
from ether_medium.client import FabricClient  # noqa: E402

DEVICE = textwrap.dedent(r"""
    import os, sys, tty
    from ether_lite import Node, cbor, ether_pub, ether_sub, framing, protocol
    from ether_lite.links.pipe import PipeLink

    class Bench:
        def __init__(self):
            self.node = None
            self.frames = None
            self.todo = None

        @ether_pub(fields=[["celsius", "f"]])
        def read(self):
            return {"celsius": 21.5}

        @ether_sub()
        def set_led(self, on: bool):
            self.on = on

        @ether_sub()
        def burst(self, n: int, replay: bool):
            self.todo = (n, replay)  # after the ACK has gone out

        def do_burst(self, n, replay):
            if not replay:
                for _ in range(n):
                    self.read()
                return
            ep = [e for e in self.node.endpoints if e.name == "Bench.read"][0]
            if self.frames is None:  # PUBs with sequence numbers 0..511, encoded by ether_lite
                pub = protocol.pub
                tid = ep.topic_id
                self.frames = [framing.encode_frame(cbor.dumps(pub(tid, i, 0, [21.5]))) for i in range(512)]
            s = ep.seq
            order = self.frames[s:] + self.frames[:s]  # continue the device's own sequence
            block = b"".join(order)
            full, rest = divmod(n, 512)
            for _ in range(full):
                os.write(self.m, block)
            os.write(self.m, b"".join(order[:rest]))
            ep.seq = (ep.seq + n) & protocol.SEQ_MASK

    m, s = os.openpty()
    tty.setraw(s)
    print(os.ttyname(s), flush=True)
    b = Bench()
    b.m = m
    b.node = node = Node(b, PipeLink(m, m), device_id="bench")
    while True:
        if not node.poll():
            node.link.wait(node.next_due_ms())
        if b.todo:
            todo, b.todo = b.todo, None
            b.do_burst(*todo)
""")

RAW_PUBLISHER = textwrap.dedent(r"""
    import sys, time
    from ether_medium.broker import BrokerAddresses
    from ether_medium.client import FabricClient
    c = FabricClient(BrokerAddresses(sys.argv[1], sys.argv[2]), "raw")
    c.handshake()
    n = int(sys.argv[3])
    sys.stdin.readline()
    for i in range(n):
        c.publish("Bench.raw", {"celsius": 21.5})
    c.close(bye=False)
""")

BRIDGE = textwrap.dedent(r"""
    import sys
    from ether_medium.broker import BrokerAddresses
    from ether_medium.bridge.loop import BridgeLoop
    from ether_medium.bridge.service import FabricBridge
    from ether_medium.client import FabricClient
    from ether_medium.config import DeviceConfig
    client = FabricClient(BrokerAddresses(sys.argv[1], sys.argv[2]), "bridge.bench")
    loop = BridgeLoop()
    bridge = FabricBridge("bench", DeviceConfig(link="serial://" + sys.argv[3]), client, loop)
    client.handshake()
    loop.run()
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


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
        _stop(dev)


def _count(sub: FabricClient, topic: str, n: int, timeout_s: float) -> tuple[int, float]:
    """Receive ``n`` messages on ``topic``; (received, seconds from the first to the last)."""
    import zmq

    got = 0
    t_first = t_last = 0.0
    deadline = time.monotonic() + timeout_s
    sock = sub.socket
    want = topic.encode()
    while got < n and time.monotonic() < deadline:
        try:
            frames = sock.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            if not sock.poll(500) and got:
                break  # the stream stopped: count what came
            continue
        if frames[0] != want:
            continue
        t_last = time.perf_counter()
        if got == 0:
            t_first = t_last
        got += 1
    return got, t_last - t_first


def _raw_round(a: object, sub: FabricClient, n: int) -> float:
    """One raw publisher process publishing ``n`` messages; the subscriber's rate."""
    raw = _start(RAW_PUBLISHER, a.publish, a.subscribe, str(n), stdin=True)  # type: ignore[attr-defined]
    try:
        time.sleep(0.5)  # let it start and handshake (a bench, not a test)
        assert raw.stdin is not None
        raw.stdin.write(b"go\n")
        raw.stdin.flush()
        got, dt = _count(sub, "Bench.raw", n, 60)
        return (got - 1) / dt if dt > 0 else 0.0
    finally:
        _stop(raw)


def ingest(rounds: int = 3, n_raw: int = 50_000, n_dev: int = 20_000) -> None:
    """Interleaved rounds (raw, device loop, device replay), so machine load hits all three alike; the
    ratios are per round, and their median is the figure."""
    broker = Broker()
    broker.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        a = broker.addresses
        sub = FabricClient(a, "bench.sub")
        sub.subscribe("Bench.raw")
        sub.subscribe("Bench.read")
        sub.handshake()
        dev = _start(DEVICE)
        procs.append(dev)
        pty = _readline(dev)
        bridge = _start(BRIDGE, a.publish, a.subscribe, pty)
        procs.append(bridge)
        ctl = FabricClient(a, "bench.ctl")
        ctl.handshake()
        from ether_medium.requests import close_all, requester_for

        req = requester_for(a, "bench")
        deadline = time.monotonic() + 15
        while True:  # until the bridge has attached the device (it answers on Ether.bridge.bench)
            try:
                if req.get("Ether.bridge.bench", 0.5, {"what": "describe"}).get("attached"):
                    break
            except TimeoutError:
                pass  # the bridge process is still starting
            if time.monotonic() > deadline:
                raise RuntimeError("bridge did not attach the device")
            time.sleep(0.05)
        ratios: dict[bool, list[float]] = {False: [], True: []}
        for r in range(rounds):
            raw_rate = _raw_round(a, sub, n_raw)
            line = f"round {r + 1}: raw fabric publisher {raw_rate:,.0f} msg/s"
            for replay in (False, True):
                ctl.publish("Bench.burst", {"n": n_dev, "replay": replay})
                got, dt = _count(sub, "Bench.read", n_dev, 60)
                rate = (got - 1) / dt if dt > 0 else 0.0
                ratios[replay].append(rate / raw_rate)
                kind = "replayed frames" if replay else "ether_lite loop"
                line += f"; {kind} {rate:,.0f} msg/s ({got}/{n_dev})"
                time.sleep(0.2)
            print(line)
        for replay, what in (
            (False, "ether_lite device publishing in a loop"),
            (True, "device replaying frames ether_lite encoded (the bridge's own ceiling)"),
        ):
            rs = ratios[replay]
            print(
                f"ingest ratio to raw fabric, {what}: median {statistics.median(rs):.2f} "
                f"(rounds {', '.join(f'{x:.2f}' for x in rs)})   (target >= 0.5)"
            )
        counters = req.get("Ether.bridge.bench", 5, {"what": "counters"})
        print(
            f"bridge counters: published={counters['published']} gaps={counters['sequence_gaps']} "
            f"crc={counters['crc_errors']} rejected={counters['rejected']}"
        )
        ctl.close(bye=False)
        sub.close(bye=False)
        close_all()
    finally:
        for p in reversed(procs):
            _stop(p)
        broker.stop()


if __name__ == "__main__":
    round_trip()
    ingest()
