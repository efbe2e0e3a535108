"""Where the fabric's one-way latency goes, printed (never asserted).

    .venv/bin/python bench/fabric_hops.py [--count 3000] [--rounds 3]

One publisher process sends four streams, interleaved message by message (each at ``--rate`` Hz, a quarter
of a period apart), so that all see the same load on a shared machine; each stream has its own subscriber
process, which blocks in ``recv`` on its socket:

1. raw     : pyzmq XPUB -> SUB + cbor2, straight between the two processes (bench/fabric.py's baseline);
2. proxy   : pyzmq PUB -> the fabric's :class:`Broker` (a C ``zmq.proxy_steerable`` XSUB -> XPUB in a thread
             of this process, its XSUB subscribed to everything) -> SUB, + cbor2: the cost of the hop alone;
3. fabric  : a decorated ``ether_pub`` method of an instance runtime -> the same broker -> an instance
             runtime's receive loop, validation and a decorated ``ether_sub`` method (the processes are
             started here, not by ``ether.tap``, so that they can share the publisher);
4. direct  : the same fabric code on both ends, but the publisher's PUB socket connected straight to the
             subscriber's (bound) SUB socket, no broker: what the fabric would take with one hop less for a
             subscriber on the same machine (a design measured here, not the fabric's).

fabric - proxy (and direct - raw) is what the fabric's Python adds on both sides; proxy - raw is the broker
hop.
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

STREAMS = ("raw", "proxy", "fabric", "direct")


def _publisher(
    raw_addr: str, direct_addr: str, env: dict[str, str], count: int, rate_hz: float, go: Any
) -> None:
    from ether_medium.fabric.broker import BrokerAddresses
    from ether_medium.fabric.client import FabricClient
    from ether_medium.fabric.decorators import set_publish_hook
    from ether_medium.fabric.instance import InstanceRuntime
    from ether_medium.fabric.publishing import ReturnPublisher

    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
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
    # the direct stream: a second client whose PUB socket connects to the direct subscriber's SUB only
    direct = FabricClient(BrokerAddresses(direct_addr, direct_addr + ".unused"), "publisher")
    hooks = (ReturnPublisher(client), ReturnPublisher(direct))
    raw.recv()  # the raw subscriber's subscription
    go.wait(60)  # the other subscribers' handshakes are done
    step = int(1e9 / rate_hz / len(STREAMS))
    nxt = time.perf_counter_ns()
    for i in range(count):
        for k in range(len(STREAMS)):  # each stream first, second, ... in turn
            stream = (i + k) % len(STREAMS)
            _pace(nxt)
            if stream == 0:
                raw.send_multipart([b"bench", cbor2.dumps({"data": i, "sent_ns": time.perf_counter_ns()})])
            elif stream == 1:
                proxy.send_multipart([b"proxy", cbor2.dumps({"data": i, "sent_ns": time.perf_counter_ns()})])
            else:
                set_publish_hook(hooks[stream - 2])  # (before the method takes its time stamp)
                emit(i)
            nxt += step
    time.sleep(0.3)
    direct.close(bye=False)
    client.close(bye=False)
    ctx.destroy(linger=1000)


def _raw_subscriber(addr: str, topic: bytes, count: int, out: str, ready: Any) -> None:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
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
    _finish(client, out)


def _finish(client: Any, out: str) -> None:
    """Keep only the latencies of the subscriber's result file, and close its fabric connection."""
    with open(out + ".full") as fh:
        lat = json.load(fh)["latencies_ns"]
    with open(out, "w") as fh:
        json.dump(lat, fh)
    client.close(bye=False)
    zmq.Context.instance().destroy(linger=0)


def _direct_subscriber(env: dict[str, str], direct_addr: str, count: int, out: str, ready: Any) -> None:
    from ether_medium.fabric.broker import BrokerAddresses
    from ether_medium.fabric.client import FabricClient
    from ether_medium.fabric.instance import InstanceRuntime

    addresses = BrokerAddresses.from_env(env)
    client = FabricClient(BrokerAddresses(addresses.publish, direct_addr + ".unused"), "direct")
    client.socket.bind(direct_addr)
    spec = {"class_path": "fabric_nodes.BenchSubscriber", "kwargs": {"count": count, "out": out + ".full"}}
    runtime = InstanceRuntime(client, spec)
    runtime.construct()
    runtime.subscribe()
    ready.set()
    sock = client.socket
    sock.setsockopt(zmq.RCVTIMEO, 5000)
    for _ in range(count):  # the runtime's own loop would wait for Ether.shutdown, which comes by the broker
        try:
            frames = sock.recv_multipart()
        except zmq.Again:
            break
        runtime.receive(frames)
    _finish(client, out)


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
            ready_direct = spawn.Event()
            raw_addr, direct_addr = f"ipc://{d}/raw", f"ipc://{d}/direct"
            procs.append(
                spawn.Process(target=_publisher, args=(raw_addr, direct_addr, env, count, rate_hz, go))
            )
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
            procs.append(
                spawn.Process(
                    target=_direct_subscriber, args=(env, direct_addr, count, outs["direct"], ready_direct)
                )
            )
            for p in procs:
                p.start()
            for ready in (ready_proxy, ready_fabric, ready_direct):
                ready.wait(60)
            time.sleep(0.5)  # the proxy's and direct's subscriptions reach the broker and the publisher
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
        f"four streams interleaved, {args.rounds} rounds (us):"
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
