"""Array speed, printed (never asserted), as ratios to baselines measured in the same run. Each round measures
a figure and its baseline back to back; "best" is the best of those per-round ratios (with their median).

    .venv/bin/python bench/arrays.py [--count 300] [--rounds 3]

1. Throughput: 4 MB float32 arrays (1024x1024) from a decorated publisher instance to 1 and to 3 decorated
   subscriber instances, as fast as they go, against raw pyzmq PUB/SUB sending 4 MB of bytes between
   processes over ipc:// (the fabric's own local transport), with the same number of subscribers. Both
   publishers keep at most ``--window`` messages in flight beyond the slowest subscriber's acknowledgement
   (each subscriber acknowledges every message), so nothing is dropped and the figure is sustained. Figure:
   arrays received per second, summed over the subscribers, from the publisher's start to each subscriber's
   last array. Targets: >= 3x with one subscriber, >= 8x with three.
2. Latency: publish-to-callback p50 of a 4 MB array against a 100-byte message, both at 50 Hz, in the same
   run. Target: <= 2x. Shown for a frame copied into the slot and for a loaned slot (no copy at all), with the
   floor of the copying path: a plain numpy copy of 4 MB, measured in the same run.
3. Recording: the fabric's rate of small messages (bench/fabric.py's publisher and subscriber instances) while
   4 MB arrays flow at 25 Hz (100 MB/s) to a subscriber, with those arrays recorded against not recorded.
   Target: >= 0.8 (recording slows the fabric by at most 20 %).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import zmq

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from fabric_nodes import pair_instances  # noqa: E402
from result_files import run_for_results  # noqa: E402

MB4 = 4 * 1024 * 1024


# -- raw pyzmq ------------------------------------------------------------------------------------------
def _raw_pub(addr: str, acks: str, count: int, subs: int, window: int, ready: Any, stop: Any) -> None:
    ctx = zmq.Context()
    pub = ctx.socket(zmq.XPUB)
    pub.setsockopt(zmq.XPUB_VERBOSE, 1)  # every subscriber's subscription comes through
    pub.setsockopt(zmq.SNDHWM, 0)
    pub.bind(addr)
    pull = ctx.socket(zmq.PULL)
    pull.bind(acks)
    ready.set()
    for _ in range(subs):
        pub.recv()  # each subscription
    payload = os.urandom(MB4)
    acked = [-1] * subs
    t0 = time.perf_counter_ns().to_bytes(8, "big")  # CLOCK_MONOTONIC: the same clock in every process
    for i in range(count):
        while i - min(acked) > window:  # the same flow control as the fabric's publisher
            k, n = pull.recv_multipart()
            acked[int(k)] = int(n)
        pub.send_multipart([b"bench", t0, i.to_bytes(4, "big"), payload])
    while not stop.is_set():
        pub.send_multipart([b"bench", b"done", b"", b""])
        time.sleep(0.01)
    pub.close(linger=0)
    pull.close(linger=0)
    ctx.term()


def _raw_sub(addr: str, acks: str, k: int, out: Any) -> None:
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.connect(addr)
    sub.setsockopt(zmq.SUBSCRIBE, b"bench")
    push = ctx.socket(zmq.PUSH)
    push.connect(acks)
    seen, first, last = 0, 0, 0
    while True:
        frames = sub.recv_multipart()
        if frames[1] == b"done":
            break
        last = time.perf_counter_ns()
        first = first or int.from_bytes(frames[1], "big")  # from the publisher's start: end to end
        seen += 1
        push.send_multipart([str(k).encode(), str(int.from_bytes(frames[2], "big")).encode()])
    out.put({"seen": seen, "seconds": (last - first) / 1e9})
    sub.close(0)
    push.close(0)
    ctx.term()


def raw(count: int, subs: int, window: int) -> float:
    spawn = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as d:
        addr, acks = f"ipc://{d}/raw", f"ipc://{d}/acks"
        ready, stop, out = spawn.Event(), spawn.Event(), spawn.Queue()
        pub = spawn.Process(target=_raw_pub, args=(addr, acks, count, subs, window, ready, stop))
        pub.start()
        ready.wait(20)
        procs = [spawn.Process(target=_raw_sub, args=(addr, acks, k, out)) for k in range(subs)]
        for p in procs:
            p.start()
        results = [out.get(timeout=300) for _ in range(subs)]
        stop.set()
        for p in [pub, *procs]:
            p.join(20)
            if p.is_alive():
                p.kill()
    return sum(r["seen"] / r["seconds"] for r in results if r["seconds"] > 0)


# -- the fabric -----------------------------------------------------------------------------------------
def fabric(count: int, subs: int, kind: str = "copy", rate_hz: float = 0.0,
           extra: dict[str, Any] | None = None, window: int = 4) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as d:
        outs = [os.path.join(d, f"sub{k}.json") for k in range(subs)]
        instances: dict[str, Any] = {
            f"sub{k}": {"class_path": "array_nodes.ArraySubscriber", "kwargs": {"out": out}}
            for k, out in enumerate(outs)
        }
        instances["publisher"] = {"class_path": "array_nodes.ArrayPublisher",
                                  "kwargs": {"count": count, "kind": kind, "rate_hz": rate_hz,
                                             "subs": subs, "window": window}}
        return run_for_results({"instances": instances, **(extra or {})}, outs, "array benchmark")


def recording(small_count: int, record: bool, db_dir: str) -> float:
    """Small messages per second while 100 MB/s of arrays flow (and are recorded when ``record``)."""

    with tempfile.TemporaryDirectory() as d:
        small_out, array_out = os.path.join(d, "small.json"), os.path.join(d, "arrays.json")
        config: dict[str, Any] = {"instances": {
            "arraysub": {"class_path": "array_nodes.ArraySubscriber", "kwargs": {"out": array_out}},
            "arraypub": {"class_path": "array_nodes.ArrayPublisher",
                         "kwargs": {"count": 250, "kind": "copy", "rate_hz": 25.0}},
            **pair_instances(small_count, small_out),
        }}
        if record:
            config["recording"] = {"path": os.path.join(db_dir, "ether.sqlite"), "topics": ["arrays"]}
        result = run_for_results(config, [small_out, array_out], "recording benchmark")[0]
        return float(result["count"] / result["seconds"])


def rate(results: list[dict[str, Any]]) -> float:
    return sum(r["seen"] / r["seconds"] for r in results if r["seconds"] > 0)


def p50_us(results: list[dict[str, Any]]) -> float:
    lat = sorted(x for r in results for x in r["latencies_ns"][5:])  # the first few warm the ring up
    return lat[len(lat) // 2] / 1000.0


def _ratios(a: list[float], b: list[float], lower_is_better: bool = False) -> tuple[float, float]:
    """The best and the median of the per-round ratios ``a[i] / b[i]`` (each pair measured in one round,
    so each ratio compares like with like: the same load on the machine)."""
    ratios = [x / y for x, y in zip(a, b, strict=True)]
    return (min(ratios) if lower_is_better else max(ratios)), statistics.median(ratios)


def _ratio(a: list[float], b: list[float], lower_is_better: bool = False) -> str:
    best, median = _ratios(a, b, lower_is_better)
    return f"{best:.2f} (median {median:.2f})"


def copy_floor_us(repeats: int = 40) -> tuple[float, float]:
    """p50 of a plain numpy copy of a 4 MB float32 frame into one of 8 slots of a shared mapping (the copying
    path's ring): ``(cold, warm)``, cold with the caches cleared by 64 MB of other writes before each copy (as
    at 50 Hz, where frame and slot are long out of cache), warm back to back. The least the copying path
    adds to a message's latency."""
    import mmap

    import numpy as np

    src = np.random.default_rng(0).random((1024, 1024), dtype=np.float32)
    ring = mmap.mmap(-1, 8 * MB4)  # shared and anonymous, as a /dev/shm segment
    slots = [np.frombuffer(ring, np.float32, src.size, k * MB4).reshape(src.shape) for k in range(8)]
    other = np.zeros(16 * MB4 // 8)  # 64 MB: more than every cache of this machine
    cold, warm = [], []
    for i in range(repeats):
        other += 1.0
        t = time.perf_counter_ns()
        np.copyto(slots[i % 8], src, casting="no")
        cold.append(time.perf_counter_ns() - t)
    for i in range(repeats):
        t = time.perf_counter_ns()
        np.copyto(slots[i % 8], src, casting="no")
        warm.append(time.perf_counter_ns() - t)
    del slots
    ring.close()
    return statistics.median(cold) / 1000.0, statistics.median(warm) / 1000.0


def part_throughput(args: argparse.Namespace) -> None:
    for subs, target in ((1, 3.0), (3, 8.0)):
        raws: list[float] = []
        fabs: dict[str, list[float]] = {"copy": [], "loan": []}
        drops = dict.fromkeys(fabs, 0)
        for _ in range(args.rounds):  # alternating rounds; the best ratio of one round's pair is shown
            raws.append(raw(args.count, subs, args.window))
            for kind, rates in fabs.items():
                res = fabric(args.count, subs, kind, window=args.window)
                rates.append(rate(res))
                drops[kind] += sum(r["dropped"] for r in res)
        for kind, rates in fabs.items():
            how = "copied into slots" if kind == "copy" else "loaned slots"
            ratios = [r / w for r, w in zip(rates, raws, strict=True)]
            best = ratios.index(max(ratios))  # the round of the best ratio, and its two figures
            print(f"4 MB float32 arrays ({how}), 1 publisher -> {subs} subscriber(s), arrays/s summed, "
                  f"best ratio of {args.rounds} rounds: fabric {rates[best]:,.0f}, raw pyzmq ipc "
                  f"{raws[best]:,.0f}, ratio {_ratio(rates, raws)}; target >= {target:g}; "
                  f"{drops[kind]} dropped")


def part_latency(args: argparse.Namespace) -> None:
    small, copied, loaned, cold, warm = [], [], [], [], []
    for _ in range(args.rounds):
        small.append(p50_us(fabric(args.latency_count, 1, "small", 50.0)))
        copied.append(p50_us(fabric(args.latency_count, 1, "copy", 50.0)))
        loaned.append(p50_us(fabric(args.latency_count, 1, "loan", 50.0)))
        c, w = copy_floor_us()
        cold.append(c)
        warm.append(w)
    c_best, c_median = _ratios(copied, small, lower_is_better=True)
    l_best, l_median = _ratios(loaned, small, lower_is_better=True)
    # the copying path's floor: the small message's latency plus the copy, in the round of its best ratio
    k = [c / s for c, s in zip(copied, small, strict=True)].index(c_best)
    j = [c / s for c, s in zip(loaned, small, strict=True)].index(l_best)
    floor = (small[k] + cold[k]) / small[k]
    print(f"publish-to-callback p50 at 50 Hz, best ratio of {args.rounds} rounds (target <= 2x a 100-byte "
          f"message):\n"
          f"  4 MB array copied into its slot {copied[k]:.0f} us vs {small[k]:.0f} us: {c_best:.1f}x "
          f"(median {c_median:.1f}x); floor {floor:.1f}x: the message's {small[k]:.0f} us plus a plain numpy "
          f"copy of 4 MB into a ring slot, {cold[k]:.0f} us with cold caches as at 50 Hz ({warm[k]:.0f} us "
          f"back to back), so this path cannot reach 2x while that copy takes longer than the message\n"
          f"  4 MB array in a loaned slot (no copy) {loaned[j]:.0f} us vs {small[j]:.0f} us: {l_best:.1f}x "
          f"(median {l_median:.1f}x)")


def part_recording(args: argparse.Namespace) -> None:
    off, on = [], []
    with tempfile.TemporaryDirectory(dir=ROOT) as db_dir:  # on the project's disk, as a user records
        for _ in range(args.rounds):
            off.append(recording(args.small_count, False, db_dir))
            on.append(recording(args.small_count, True, db_dir))
    ratios = [a / b for a, b in zip(on, off, strict=True)]
    k = ratios.index(max(ratios))
    print(f"small messages/s while 100 MB/s of 4 MB arrays flow, best ratio of {args.rounds} rounds: not "
          f"recorded {off[k]:,.0f}, recorded {on[k]:,.0f}, ratio {_ratio(on, off)}; target >= 0.8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--window", type=int, default=4, help="messages in flight beyond the slowest ack")
    parser.add_argument("--latency-count", type=int, default=300)
    parser.add_argument("--small-count", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=("throughput", "latency", "recording"), help="one part only")
    args = parser.parse_args()
    os.environ.setdefault("ETHER_LOG_LEVEL", "ERROR")  # (a slow subscriber's drops are counted, not logged)
    os.chdir(ROOT)
    parts = {"throughput": part_throughput, "latency": part_latency, "recording": part_recording}
    for name, part in parts.items():
        if args.only in (None, name):
            part(args)
    print(f"  (load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
