"""The Ray engine's cost, printed (never asserted), as ratios against the local engine in the same run.

    .venv/bin/python bench/cluster.py [--count 100000] [--rounds 3] [--startup-runs 5]

* throughput between two Ray-placed instances on this machine (a decorated publisher to a decorated
  subscriber) against the same rig without Ray; also with ``cluster.local_ipc: false`` (TCP + CURVE, as
  between machines), for information;
* ``tap`` + ``start`` and ``shutdown`` of the seed's 4-instance example with ``cluster: {engine: ray}`` on a
  Ray that is already running: in this process (``ray.init`` done before) and from a fresh driver process
  that connects to it (``address: HOST:PORT``, connecting and disconnecting included);
* what Ray itself costs here: ``import ray``, starting a local Ray, stopping it.

Targets (issue 16): throughput ratio >= 0.9; tap+start <= 2 s; shutdown <= 1 s. Needs Ray
(``pip install 'ether-medium[ray]'``). Every Ray process this starts is stopped at the end (``ray.shutdown``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from fabric_nodes import pair_instances  # noqa: E402
from result_files import run_for_result  # noqa: E402

SEED = str(ROOT / "examples" / "config" / "dual_processors.yaml")


def throughput(count: int, cluster: dict[str, Any] | None, spawn: bool = False) -> float:
    if spawn:
        os.environ["ETHER_START_METHOD"] = "spawn"  # fresh interpreters, as the Ray engine's children are

    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "result.json")
        config: dict[str, Any] = {"instances": pair_instances(count, out)}
        if cluster is not None:
            config["cluster"] = cluster
        try:
            result = run_for_result(config, out, "throughput run")
        finally:
            os.environ.pop("ETHER_START_METHOD", None)
    return float(result["count"]) / float(result["seconds"])


def seed_runs(runs: int, config: Any) -> tuple[list[float], list[float]]:
    from fabric import (
        startup,  # bench/fabric.py: the same measurement, a longer pause (Ray's nodes report late)
    )

    return startup(runs, config, pause_s=0.5)


def _seed_with(cluster: dict[str, Any]) -> dict[str, Any]:
    from ether_medium.config import read_config

    _, raw = read_config(SEED)
    return {**raw, "cluster": cluster}


def driver(address: str) -> None:
    """One fresh driver process: tap+start and shutdown of the seed on the Ray at ``address``."""
    os.chdir(ROOT)
    taps, downs = seed_runs(1, _seed_with({"engine": "ray", "address": address}))
    print(json.dumps({"tap": taps[0], "shutdown": downs[0]}))


def _show(name: str, values: list[float], target: float) -> None:
    print(f"  {name}: {statistics.median(values):6.2f} / {min(values):6.2f} / {max(values):6.2f}"
          f"   (target <= {target} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--startup-runs", type=int, default=5)
    parser.add_argument("--driver", metavar="ADDRESS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("ETHER_LOG_LEVEL", "WARNING")
    os.environ["RAY_DEDUP_LOGS"] = "0"
    if args.driver:
        driver(args.driver)
        return
    os.chdir(ROOT)

    t0 = time.perf_counter()
    try:
        import ray
    except ImportError:
        print("bench/cluster.py: skipped, Ray is not installed (pip install 'ether-medium[ray]')")
        return
    t1 = time.perf_counter()
    ray.init(include_dashboard=False, logging_level="WARNING")
    t2 = time.perf_counter()
    try:
        address = ray.get_runtime_context().gcs_address
        rates: dict[str, list[float]] = {"local": [], "local-spawn": [], "ray": [], "ray-tcp": []}
        clusters: dict[str, dict[str, Any] | None] = {
            "local": None,
            "local-spawn": None,
            "ray": {"engine": "ray", "address": "auto"},
            "ray-tcp": {"engine": "ray", "address": "auto", "local_ipc": False},
        }
        for _ in range(args.rounds):  # alternate, so a busy moment of the shared machine hits all three
            for name, cluster in clusters.items():
                rates[name].append(throughput(args.count, cluster, spawn=name == "local-spawn"))
        print(f"throughput, {args.count} messages, publisher and subscriber instances on this machine, "
              f"{args.rounds} alternating rounds (best / median, msg/s):")
        for name, label in (("local", "local engine (no Ray)"), ("local-spawn", "local engine, spawned"),
                            ("ray", "Ray actors (ipc)"), ("ray-tcp", "Ray actors (TCP + CURVE)")):
            print(f"  {label:27s}: {max(rates[name]):10,.0f} / {statistics.median(rates[name]):10,.0f}")
        for name in ("local-spawn", "ray", "ray-tcp"):
            best = max(rates[name]) / max(rates["local"])
            med = statistics.median(rates[name]) / statistics.median(rates["local"])
            pad = " " * (13 - len(name))
            print(f"  ratio {name}/local{pad}: {best:10.2f} / {med:10.2f}   (target >= 0.9)")

        taps, downs = seed_runs(args.startup_runs, _seed_with({"engine": "ray", "address": "auto"}))
        print(f"seed's 4-instance example on the running Ray, in this process, {args.startup_runs} runs "
              "(median / min / max, s):")
        _show("tap + start", taps, 2.0)
        _show("shutdown   ", downs, 1.0)
        d_taps, d_downs = [], []
        for _ in range(args.startup_runs):
            out = subprocess.run([sys.executable, __file__, "--driver", address], capture_output=True,
                                 text=True, timeout=120, check=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
            d_taps.append(result["tap"])
            d_downs.append(result["shutdown"])
        print(f"the same from a fresh driver process each run (connecting to Ray at {address} included):")
        _show("tap + start", d_taps, 2.0)
        _show("shutdown   ", d_downs, 1.0)
    finally:
        t3 = time.perf_counter()
        ray.shutdown()
        t4 = time.perf_counter()
    print(f"Ray {ray.__version__} itself: import {t1 - t0:.2f} s, start a local Ray {t2 - t1:.2f} s, "
          f"stop it {t4 - t3:.2f} s")
    print(f"  (load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
