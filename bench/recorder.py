"""Recorder throughput, printed as ratios to baselines measured in the same run (no asserts).

1. Sustained recorded messages/s (a publisher process sends as fast as it can through a real broker to a
   real recorder process; rate = rows / (last commit - first message received)) as a ratio to plain
   ``sqlite3`` batched ``executemany`` inserts of the same rows into the same schema with the same pragmas.
   Target >= 0.5.
2. The fabric's throughput with recording on as a ratio to recording off. Target >= 0.8. Needs the fabric
   (``ether_medium.fabric.launcher`` and ``bench/fabric_nodes.py``); skipped with a message when they are
   not there.

Each part runs ``BENCH_ROUNDS`` interleaved rounds (default 3); printed: every round with the machine's load
average, the ratio of the best figures and the median of the per-round ratios (a shared machine: the load of
other processes moves every figure; the recorder's messages per CPU second are printed too, less sensitive).

Run: ``.venv/bin/python bench/recorder.py`` (``BENCH_N`` sets the number of messages, default 200000).
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import cbor2
import zmq

from ether_medium.config import load_config
from ether_medium.fabric.broker import Broker, BrokerAddresses
from ether_medium.fabric.envelope import Envelope, encode
from ether_medium.recorder import Store, run_recorder

N = int(os.environ.get("BENCH_N", "200000"))
BATCH = 2000
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SPAWN = multiprocessing.get_context("spawn")


def _data(i: int) -> dict[str, Any]:
    return {"value": i * 0.5, "i": i, "unit": "V"}


def baseline(db: Path, session_id: str) -> tuple[float, float]:
    """Plain sqlite3: the recorder's rows, prepared in advance, inserted with executemany in batches."""
    Store(db).close()  # the same schema and index
    rows = [(session_id, "bench.data", "gen", i, 1.7e9 + i * 1e-4, None, None, None, cbor2.dumps(_data(i)))
            for i in range(N)]
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    start, cpu = time.perf_counter(), time.process_time()
    for k in range(0, N, BATCH):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows[k:k + BATCH])
        conn.execute("COMMIT")
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    conn.close()
    return N / elapsed, N / cpu


def _recorder(publish: str, subscribe: str, db: str, ready: Any, results: Any) -> None:
    config = load_config({"recording": {"path": db, "topics": ["bench.*"], "batch_rows": BATCH}})
    cpu = time.process_time()
    summary = run_recorder(BrokerAddresses(publish, subscribe), str(uuid.uuid4()), config, ["gen"],
                           ready=ready.set)
    cpu = time.process_time() - cpu
    results.put((summary.rows, summary.first_message, summary.last_commit, summary.status, cpu))


def _publisher(publish: str, results: Any) -> None:
    frames = [encode(Envelope("bench.data", _data(i), "gen", i, time.time())) for i in range(N)]
    sock = zmq.Context.instance().socket(zmq.XPUB)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.connect(publish)
    while sock.recv()[1:] not in (b"bench.", b""):  # the recorder's subscription has reached us
        pass
    start = time.time()
    for f in frames:
        sock.send_multipart(f)
    sent = time.time()
    for topic, data in (("Ether.shutdown", {}), ("Ether.bye", {"name": "gen"})):
        sock.send_multipart(encode(Envelope(topic, data, "gen", 0, time.time())))
    sock.close(linger=10_000)
    results.put((start, sent))


def recorded_rate(db: Path) -> tuple[float, float, float]:
    """(recorder rows/s from first message to last commit, rows per CPU second of the recorder process
    (all its threads), publisher send rate)."""
    broker = Broker()
    broker.start()
    ready, results, pub_results = SPAWN.Event(), SPAWN.Queue(), SPAWN.Queue()
    rec = SPAWN.Process(target=_recorder, args=(broker.addresses.publish, broker.addresses.subscribe,
                                                str(db), ready, results))
    pub = SPAWN.Process(target=_publisher, args=(broker.addresses.publish, pub_results))
    try:
        rec.start()
        if not ready.wait(30):
            raise RuntimeError("recorder not ready")
        pub.start()
        start, sent = pub_results.get(timeout=300)
        rows, first, last, status, cpu = results.get(timeout=300)
        if rows != N or status != "normal":
            print(f"  warning: recorder ended {status} with {rows} of {N} rows")
        return rows / (last - first), rows / cpu, N / (sent - start)
    finally:
        for proc in (pub, rec):
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join()
        broker.stop()


def _fabric_rate(count: int, tmp: Path, record: bool) -> float:
    """Messages/s at a subscriber instance, publisher instance -> subscriber instance, recording on or off."""
    from fabric_nodes import pair_instances
    from result_files import run_for_result

    tag = uuid.uuid4().hex[:8]
    out, db = tmp / f"result-{tag}.json", tmp / f"fabric-{tag}.sqlite"
    config: dict[str, Any] = {"instances": pair_instances(count, out)}
    if record:
        config["recording"] = {"path": str(db), "topics": ["bench"]}
    result = run_for_result(config, out, "fabric benchmark")
    if record:
        conn = sqlite3.connect(db)
        recorded = conn.execute("SELECT count(*) FROM messages WHERE topic = 'bench'").fetchone()[0]
        conn.close()
        if recorded != count:
            print(f"  warning: {recorded} of {count} messages recorded")
    return float(result["count"]) / float(result["seconds"])


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def _summary(label: str, ons: list[float], offs: list[float], target: float) -> None:
    ratios = [a / b for a, b in zip(ons, offs, strict=True)]
    print(f"{label}: best {max(ons) / max(offs):.2f} (best {max(ons):.0f} / best {max(offs):.0f}), median of "
          f"rounds {statistics.median(ratios):.2f} (rounds {' '.join(f'{r:.2f}' for r in ratios)})   "
          f"(target >= {target}; {_load()})")


def fabric_ratio() -> None:
    """The fabric's throughput with recording on / off (needs the fabric: ether_medium.fabric.launcher and
    bench/fabric_nodes.py)."""
    sys.path[:0] = [str(Path(__file__).resolve().parent)]
    try:
        import fabric_nodes  # type: ignore[import-not-found,unused-ignore]  # noqa: F401

        import ether_medium.fabric.launcher  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
    except ImportError as exc:
        print(f"fabric throughput, recording on / off: skipped ({exc})")
        return
    count = min(N, 100_000)
    offs, ons = [], []
    with tempfile.TemporaryDirectory(prefix="ether-bench-") as tmp:
        for k in range(ROUNDS):
            offs.append(_fabric_rate(count, Path(tmp), record=False))
            ons.append(_fabric_rate(count, Path(tmp), record=True))
            print(f"  round {k + 1}: fabric {offs[-1]:8.0f} msgs/s without recording, {ons[-1]:8.0f} with "
                  f"({_load()})")
    _summary("fabric throughput, recording on / off", ons, offs, 0.8)


def main() -> int:
    os.environ.setdefault("ETHER_LOG_LEVEL", "WARNING")  # the figures, not every session's log lines
    print(f"bench/recorder.py: {N} messages, batches of {BATCH}, best of {ROUNDS} interleaved rounds")
    bases, rates, base_cpus, cpus = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="ether-bench-") as tmp:
        for k in range(ROUNDS):
            base, base_cpu = baseline(Path(tmp) / f"baseline{k}.sqlite", str(uuid.uuid4()))
            rate, cpu, sent = recorded_rate(Path(tmp) / f"recorded{k}.sqlite")
            bases.append(base)
            base_cpus.append(base_cpu)
            rates.append(rate)
            cpus.append(cpu)
            print(f"  round {k + 1}: plain sqlite3 {base:8.0f} rows/s, recorder {rate:8.0f} msgs/s "
                  f"(publisher sent {sent:.0f}/s; per CPU second: {base_cpu:.0f} rows, {cpu:.0f} msgs; "
                  f"{_load()})")
    print(f"plain sqlite3 executemany (same rows, schema, pragmas): best {max(bases):8.0f} rows/s")
    print(f"recorder, publisher -> broker -> recorder -> SQLite:     best {max(rates):8.0f} msgs/s")
    _summary("recorded / plain sqlite3, wall clock", rates, bases, 0.5)
    _summary("recorded / plain sqlite3, per CPU second of the recorder process (all its threads)", cpus,
             base_cpus, 0.5)
    fabric_ratio()
    return 0


if __name__ == "__main__":
    sys.exit(main())
