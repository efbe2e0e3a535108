"""What watching the rig costs it: the fabric throughput benchmark (bench/fabric.py: a decorated publisher
to a decorated subscriber, as fast as they go) with ``ether topics``, ``hz``, ``monitor`` and ``plot``
attached (each in its own process, as a user's second terminal), and with the ``metrics:`` exporter, as a
ratio to the same benchmark without, in the same run. Printed, never asserted.

    .venv/bin/python bench/observe.py [--count 200000] [--rounds 3]

Targets (issue 14): an observer costs at most 10 % (ratio >= 0.90), metrics at most 5 % (ratio >= 0.95).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from fabric_nodes import pair_instances  # noqa: E402
from observe_nodes import observe  # noqa: E402
from result_files import wait_for_result  # noqa: E402

OBSERVERS = ("topics", "hz", "monitor", "plot")


def run(count: int, observer: str | None = None, metrics: bool = False) -> float:
    """Messages per second through the fabric with ``observer`` attached (or the metrics exporter)."""
    from ether_medium import ether

    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "result.json")
        config: dict[str, Any] = {"instances": pair_instances(count, out)}
        if metrics:
            config["metrics"] = {"port": _free_port()}
        ether.tap(config=config)
        proc = None
        spawn = mp.get_context("spawn")
        stop = spawn.Event()
        try:
            if observer is not None:
                ready = spawn.Event()
                a = ether.launcher.addresses  # type: ignore[union-attr]
                proc = spawn.Process(target=observe, args=(observer, a.publish, a.subscribe, ready, stop))
                proc.start()
                if not ready.wait(60):
                    raise TimeoutError(f"the {observer} observer did not start")
            ether.start()
            result = wait_for_result(out, "fabric benchmark")
        finally:
            stop.set()
            if proc is not None:
                proc.join(10)
                if proc.is_alive():
                    proc.kill()
                    proc.join()
            ether.shutdown()
    return float(result["count"]) / float(result["seconds"])


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="+", choices=("metrics", *OBSERVERS), help="just these variants")
    args = parser.parse_args()
    os.environ.setdefault("ETHER_LOG_LEVEL", "WARNING")
    os.chdir(ROOT)
    variants: list[tuple[str, str | None, bool]] = [("metrics", None, True)]
    variants += [(name, name, False) for name in OBSERVERS]
    if args.only:
        variants = [v for v in variants if v[0] in args.only]
    base: list[float] = []
    rates: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    # Alternate: each variant right after a baseline run, so a disturbance of the shared machine hits both.
    for _ in range(args.rounds):
        for name, observer, metrics in variants:
            base.append(run(args.count))
            rates[name].append(run(args.count, observer, metrics))
    print(f"fabric throughput, {args.count} messages, {args.rounds} rounds, each variant after a baseline "
          "run")
    print(f"  baseline (nothing attached) : {statistics.median(base):10,.0f} msg/s (median of {len(base)})")
    for name, _, metrics in variants:
        ratio = statistics.median(rates[name]) / statistics.median(base)
        target = 0.95 if metrics else 0.90
        label = "metrics: exporter" if metrics else f"ether {name}"
        print(f"  {label:28s}: {statistics.median(rates[name]):10,.0f} msg/s   ratio {ratio:.2f}   "
              f"(target >= {target:.2f})")
    print(f"  (load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
