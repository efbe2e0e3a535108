"""Where the fabric's one-way latency goes, printed (never asserted).

    .venv/bin/python bench/fabric_hops.py [--count 3000] [--rounds 3]

One publisher process sends three streams, interleaved message by message (each at ``--rate`` Hz, a third
of a period apart), so that all three see the same load on a shared machine; each stream has its own
subscriber process, which blocks in ``recv`` on its socket:

1. raw     : pyzmq XPUB -> SUB + cbor2, straight between the two processes (bench/fabric.py's baseline);
2. proxy   : pyzmq PUB -> the fabric's :class:`Broker` (a C ``zmq.proxy_steerable`` XSUB -> XPUB in a thread
             of this process, its XSUB subscribed to everything) -> SUB, + cbor2: the cost of the hop alone;
3. fabric  : a decorated ``ether_pub`` method of an instance runtime -> the same broker -> an instance
             runtime's receive loop, validation and a decorated ``ether_sub`` method (the processes are
             started here, not by ``ether.tap``, so that they can share the publisher).

fabric - proxy is what the fabric's Python adds on both sides; proxy - raw is the broker hop.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cbor2
import zmq

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from fabric_nodes import _pace  # noqa: E402

STREAMS = ("raw", "proxy", "fabric")


def _publisher(raw_addr: str, env: dict[str, str], count: int, rate_hz: float, go: Any) -> None:
    from ether_medium.fabric.broker import BrokerAddresses
    from ether_medium.fabric.client import FabricClient
    from ether_medium.fabric.instance import InstanceRuntime

    ctx = zmq.Context.instance()
    raw = ctx.socket(zmq.XPUB)
    raw.setsockopt(zmq.SNDHWM, 0)
    raw.setsockopt(zmq.RCVTIMEO, 20_000)
    raw.bind(raw_addr)
    addresses = BrokerAddresses.from_env(env)
    proxy = ctx.socket(zmq.PUB)
    proxy.setsockopt(zmq.SNDHWM, 0)
    proxy.connect(addresses.publish)
    client = FabricClient(addresses, "publisher")
    client.handshake()  # this process's PUB sockets are connected to the broker
    runtime = InstanceRuntime(client, {"class_path": "fabric_nodes.BenchPublisher", "kwargs": {"count": 0}})
    runtime.construct()
    emit = runtime.obj.emit_stamped
    raw.recv()  # the raw subscriber's subscription
    go.wait(60)  # the other subscribers' handshakes are done
    third = int(1e9 / rate_hz / 3)
    nxt = time.perf_counter_ns()
    for i in range(count):
        for stream in (i % 3, (i + 1) % 3, (i + 2) % 3):  # each stream first, second and third in turn
            _pace(nxt)
            if stream == 0:
                raw.send_multipart([b"bench", cbor2.dumps({"data": i, "sent_ns": time.perf_counter_ns()})])
            elif stream == 1:
                proxy.send_multipart([b"proxy", cbor2.dumps({"data": i, "sent_ns": time.perf_counter_ns()})])
            else:
                emit(i)
            nxt += third
    time.sleep(0.3)
    client.close(bye=False)
    ctx.destroy(linger=1000)


def _raw_subscriber(addr: str, topic: bytes, count: int, out: str, ready: Any) -> None:
    ctx = zmq.Context.instance()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.setsockopt(zmq.RCVTIMEO, 5000)  # a lost message: report what came
    sub.connect(addr)
    sub.setsockopt(zmq.SUBSCRIBE, topic)
    if ready is not None:
        ready.set()
    lat: list[int] = []
    for _ in range(count):
        try:
            frames = sub.recv_multipart()
        except zmq.Again:
            break
        msg = cbor2.loads(frames[1])
        lat.append(time.perf_counter_ns() - msg["sent_ns"])
    with open(out, "w") as fh:
        json.dump(lat, fh)
    ctx.destroy(linger=0)


def _fabric_subscriber(env: dict[str, str], count: int, out: str, ready: Any) -> None:
    from ether_medium.fabric.broker import BrokerAddresses
    from ether_medium.fabric.client import FabricClient
    from ether_medium.fabric.instance import InstanceRuntime

    client = FabricClient(BrokerAddresses.from_env(env), "subscriber")
    spec = {"class_path": "fabric_nodes.BenchSubscriber", "kwargs": {"count": count, "out": out + ".full"}}
    runtime = InstanceRuntime(client, spec)
    runtime.construct()
    runtime.subscribe()
    client.handshake()
    ready.set()
    runtime.loop()  # until Ether.shutdown
    with open(out + ".full") as fh:
        lat = json.load(fh)["latencies_ns"]
    with open(out, "w") as fh:
        json.dump(lat, fh)
    client.close(bye=False)
    zmq.Context.instance().destroy(linger=0)


def paired(count: int, rate_hz: float) -> dict[str, list[int]]:
    from ether_medium import topics
    from ether_medium.fabric.broker import Broker
    from ether_medium.fabric.client import FabricClient

    spawn = mp.get_context("spawn")
    broker = Broker()
    broker.start()
    procs: list[Any] = []
    try:
        with tempfile.TemporaryDirectory() as d:
            env = broker.addresses.as_env()
            outs = {name: os.path.join(d, name + ".json") for name in STREAMS}
            ready_proxy, ready_fabric, go = spawn.Event(), spawn.Event(), spawn.Event()
            raw_addr = f"ipc://{d}/raw"
            procs.append(spawn.Process(target=_publisher, args=(raw_addr, env, count, rate_hz, go)))
            procs.append(
                spawn.Process(target=_raw_subscriber, args=(raw_addr, b"bench", count, outs["raw"], None))
            )
            procs.append(
                spawn.Process(
                    target=_raw_subscriber,
                    args=(broker.addresses.subscribe, b"proxy", count, outs["proxy"], ready_proxy),
                )
            )
            procs.append(
                spawn.Process(target=_fabric_subscriber, args=(env, count, outs["fabric"], ready_fabric))
            )
            for p in procs:
                p.start()
            ready_proxy.wait(60)
            ready_fabric.wait(60)
            time.sleep(0.5)  # the proxy subscriber's subscription reaches the broker
            go.set()
            procs[0].join(300)
            control = FabricClient(broker.addresses, "bench")
            control.handshake()
            control.publish(topics.SHUTDOWN, {})
            for p in procs[1:]:
                p.join(30)
            control.close(bye=False)
            result: dict[str, list[int]] = {}
            for name, path in outs.items():
                with open(path) as fh:
                    result[name] = json.load(fh)
            return result
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        broker.stop()


def _p50(values: list[int]) -> float:
    return sorted(values)[len(values) // 2] / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=1000.0, help="messages per second of each stream")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("ETHER_LOG_LEVEL", "WARNING")
    os.chdir(ROOT)
    p50s: dict[str, list[float]] = {name: [] for name in STREAMS}
    for _ in range(args.rounds):
        lat = paired(args.count, args.rate)
        for name in STREAMS:
            p50s[name].append(_p50(lat[name]))
            if len(lat[name]) < args.count:
                print(f"  ({name}: {args.count - len(lat[name])} of {args.count} messages did not arrive)")
    print(
        f"one-way latency p50 at {args.rate:g} Hz per stream, {args.count} messages per stream, "
        f"three streams interleaved, {args.rounds} rounds (us):"
    )
    for name in STREAMS:
        values = p50s[name]
        ratios = [v / r for v, r in zip(values, p50s["raw"], strict=True)]
        print(
            f"  {name:7s}: median {statistics.median(values):6.1f}  x raw (per round): "
            + " ".join(f"{r:4.2f}" for r in ratios)
            + "   p50s: "
            + " ".join(f"{v:.1f}" for v in values)
        )
    print(f"  (load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
