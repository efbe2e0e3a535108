"""A long fuzz of the fabric's boundaries: a million hostile inputs each (opt-in; the property tests in
tests/test_fabric_hostile.py and tests/test_recorder_hostile.py are the short version).

Boundaries, each fed ``FUZZ_N`` inputs (default 1,000,000):

* ``decode``: the envelope decoder (``fabric/envelope.py``); anything but ``EnvelopeError`` escapes.
* ``instance``: an instance's receive loop (``InstanceRuntime.receive``, a real object with subscribers, a
  request handler and lifecycle handlers, on a real broker); any exception escapes. Every 1000 inputs a
  valid message must still be delivered.
* ``supervisor``: the launcher's supervisor (``Supervision._dispatch``) on the supervised topics.
* ``recorder``: a real recorder (its receive thread and writer, a real SQLite file) fed through a real
  broker by a raw ZeroMQ socket; it must end ``normal`` with every message either recorded or counted.
* ``bridge``: a bridge's link manager (``LinkManager``, its whole state machine) attached to a real ether_lite
  Node over the in-memory link on a fake clock (tests/bridge_memory.py), fed frames of hostile bodies (the
  pool's, plus protocol-shaped messages with odd elements) and raw bytes; any exception escapes (and so does
  one caught by the manager's backstop, counted in ``internal_errors``). Every 1000 inputs the board
  publishes a reading, which must arrive unless a hostile HELLO or version has detached it.
* ``export``: CSV and Parquet export of a session of ``FUZZ_N`` hostile rows; every row must be written.

Inputs: a pool of hostile bodies (odd CBOR values in the envelope's header and payload, cyclic values, raw
items, arbitrary bytes) mutated at random (byte flips, truncation, splices), seeded (``FUZZ_SEED``).
Printed per boundary: inputs, escaped exceptions (with the first few), RSS growth after a warm-up of the
first 10 %, and the rate.

Run: ``.venv/bin/python bench/fuzz.py [decode instance supervisor recorder bridge export]`` (all by default).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import math
import os
import random
import struct
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cbor2
import zmq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # hostile_inputs.Target

from ether_medium.config import load_config
from ether_medium.errors import EnvelopeError
from ether_medium.fabric.broker import Broker
from ether_medium.fabric.client import FabricClient
from ether_medium.fabric.envelope import decode
from ether_medium.fabric.instance import InstanceRuntime
from ether_medium.fabric.launcher import Launcher
from ether_medium.recorder.export import export_csv, export_parquet
from ether_medium.recorder.recorder import Recorder
from ether_medium.recorder.store import Store

N = int(os.environ.get("FUZZ_N", "1000000"))
SEED = int(os.environ.get("FUZZ_SEED", "11"))
POOL = 20000

HEADER_KEYS = ("d", "s", "q", "t", "dt", "du", "dq", "r", "i", "e")
RAW_ITEMS = (b"\xd8\x1c\x81\xd8\x1d\x00", b"\xd8\x1c\xa1\x61x\xd8\x1d\x00", b"\x9f\x01\x02\xff",
             b"\xbf\x61a\x01\xff", b"\xc2\x59\x08\x00" + b"\xff" * 2048, b"\xf7", b"\xf0",
             b"\xfa\x7f\xc0\x00\x00", b"\xf9\x7c\x00",
             b"\xd8\x1d\x05", b"\xc1\xfb\x7f\xf0\x00\x00\x00\x00\x00\x00", b"\xc0\x63abc", b"\xff", b"")
ODD_NUMBERS = (math.inf, -math.inf, math.nan, 10**400, -(10**30), 2**64, 2**63, -(2**64) - 1, 1e308, 5e-324,
               True)


def _value(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if depth < 3 and r < 0.15:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if depth < 3 and r < 0.3:
        return {_key(rng): _value(rng, depth + 1) for _ in range(rng.randrange(4))}
    choice = rng.randrange(9)
    if choice == 0:
        return rng.choice(ODD_NUMBERS)
    if choice == 1:
        return rng.randrange(-(2**70), 2**70)
    if choice == 2:
        return rng.uniform(-1e6, 1e6)
    if choice == 3:
        return "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randrange(8)))
    if choice == 4:
        return rng.randbytes(rng.randrange(8))
    if choice == 5:
        return cbor2.CBORTag(rng.randrange(6, 2**32), rng.randrange(4))
    if choice == 6:
        return cbor2.undefined
    return rng.choice((None, False, 0, "gen", "name"))


def _key(rng: random.Random) -> Any:
    return rng.choice(("name", "level", "msg", "v", "x", "phase", 1, None, 2.5, b"k", "d", "t"))


def _body(rng: random.Random) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:
        body = {k: _value(rng) for k in rng.sample(HEADER_KEYS, rng.randrange(3, 8))}
        if rng.random() < 0.5:
            body["d"] = {_key(rng): _value(rng) for _ in range(rng.randrange(4))}
        return cbor2.dumps(body)
    if kind == 1:
        body = {"d": {"v": _value(rng)}, "s": "gen", "q": 1, "t": 1.0}
        body[rng.choice(HEADER_KEYS)] = _value(rng)
        return cbor2.dumps(body)
    if kind == 2:  # the layout of encode_plain with a raw item in the payload
        return (b"\xa4\x61d\xa1\x61v" + rng.choice(RAW_ITEMS) + b"\x61s\x63gen\x61q"
                + bytes([rng.randrange(24)]) + b"\x61t" + struct.pack(">Bd", 0xFB, rng.uniform(0, 2e9)))
    if kind == 3:
        rest = b"".join(cbor2.dumps(x) for x in ("s", "gen", "q", 1, "t", 1.0))
        return b"\xa4\x61" + rng.choice(HEADER_KEYS[:4]).encode() + rng.choice(RAW_ITEMS) + rest
    if kind == 4:
        return cbor2.dumps(_value(rng))
    return rng.randbytes(rng.randrange(40))


def _mutate(rng: random.Random, body: bytes) -> bytes:
    if not body or rng.random() < 0.5:
        return body
    b = bytearray(body)
    how = rng.randrange(3)
    if how == 0:
        for _ in range(rng.randrange(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif how == 1:
        del b[rng.randrange(len(b)):]
    else:
        at = rng.randrange(len(b) + 1)
        b[at:at] = rng.choice(RAW_ITEMS)
    return bytes(b)


def inputs(n: int, topics: tuple[bytes, ...], seed: int = SEED) -> Iterator[list[bytes]]:
    rng = random.Random(seed)
    pool = [_body(rng) for _ in range(POOL)]
    for _ in range(n):
        r = rng.random()
        if r < 0.02:
            yield [rng.randbytes(rng.randrange(8)) for _ in range(rng.randrange(5))]
        else:
            yield [rng.choice(topics), _mutate(rng, rng.choice(pool))]


def trim_heap() -> None:
    """Give freed heap back to the OS (glibc keeps it otherwise), so RSS shows what is still held."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Tally:
    def __init__(self, name: str, n: int) -> None:
        self.name, self.n = name, n
        self.escaped = 0
        self.first: list[str] = []
        self.start = time.monotonic()
        self.rss_warm = 0
        self.done = 0

    def escape(self, exc: BaseException, frames: list[bytes]) -> None:
        self.escaped += 1
        if len(self.first) < 3:
            self.first.append(f"{type(exc).__name__}: {str(exc)[:100]} on {frames[:2]!r:.120}")

    def tick(self) -> None:
        self.done += 1
        if self.done == self.n // 10:
            trim_heap()
            self.rss_warm = rss_kb()

    def report(self, extra: str = "") -> None:
        took = time.monotonic() - self.start
        growth = rss_kb() - self.rss_warm
        print(f"{self.name:<11} inputs {self.done:>9,}  escaped {self.escaped}  RSS growth after warm-up "
              f"{growth / 1024:+.1f} MB  ({self.done / took:,.0f}/s){extra}", flush=True)
        for line in self.first:
            print(f"    {line}")


def fuzz_decode(n: int) -> None:
    tally = Tally("decode", n)
    for frames in inputs(n, (b"data", b"Ether.log")):
        try:
            decode(frames)
        except EnvelopeError:
            pass
        except Exception as exc:
            tally.escape(exc, frames)
        tally.tick()
    tally.report()


def fuzz_instance(n: int) -> None:
    broker = Broker()
    broker.start()
    client = FabricClient(broker.addresses, "target")
    try:
        rt = InstanceRuntime(client, {"name": "target", "class_path": "hostile_inputs.Target"})
        rt.construct()
        tally = Tally("instance", n)
        probe = cbor2.dumps({"d": {"v": "probe"}, "s": "gen", "q": 0, "t": 1.0})
        lost = 0
        topics = (b"data", b"ask", b"Ether.cleanup", b"Ether.save", b"Ether.init", b"other")
        for frames in inputs(n, topics):
            try:
                rt.receive(frames)
            except Exception as exc:
                tally.escape(exc, frames)
            tally.tick()
            if tally.done % 1000 == 0:
                rt.obj.got.clear()
                rt.receive([b"data", probe])
                lost += rt.obj.got != ["probe"]
        tally.report(f"  probes not delivered {lost}, dropped and counted {rt.problems.total:,}")
    finally:
        client.close(bye=False)
        broker.stop()


def fuzz_supervisor(n: int) -> None:
    launcher = Launcher(load_config({}))
    tally = Tally("supervisor", n)
    topics = tuple(t.encode() for t in Launcher.SUPERVISED)
    malformed = 0
    for frames in inputs(n, topics):
        tally.tick()
        try:
            env = decode(frames)
        except EnvelopeError:
            malformed += 1  # what the supervisor's recv drops before dispatching
            continue
        try:
            launcher._dispatch(env)
        except Exception as exc:
            tally.escape(exc, frames)
    tally.report(f"  malformed {malformed:,}, well-formed but unusable (dropped, counted) "
                 f"{launcher.sup_problems.total:,}")


def fuzz_recorder(n: int) -> None:
    broker = Broker()
    broker.start()
    ctx = zmq.Context.instance()
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config({"recording": {"path": f"{tmp}/ether.sqlite", "topics": ["data", "Ether.*"]}})
        recorder = Recorder(broker.addresses, str(uuid.uuid4()), config, wait_for=["gen"])
        ready = threading.Event()
        result: list[Any] = []
        escaped: list[BaseException] = []

        def run() -> None:
            try:
                result.append(recorder.run(ready.set))
            except BaseException as exc:
                escaped.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        pub = ctx.socket(zmq.XPUB)
        pub.setsockopt(zmq.SNDHWM, 0)
        pub.connect(broker.addresses.publish)
        try:
            if not ready.wait(10):
                raise SystemExit("the recorder did not start")
            while pub.recv()[1:] != b"data":  # the recorder's subscription reached this socket
                pass
            tally = Tally("recorder", n)
            topics = (b"data", b"Ether.device", b"Ether.ready", b"Ether.log", b"Ether.saved", b"Ether.exited")
            for frames in inputs(n, topics):
                pub.send_multipart(frames or [b""])  # ZeroMQ sends no message of no frames
                tally.tick()
            ok = cbor2.dumps({"d": {"v": "after"}, "s": "gen", "q": 0, "t": 2e9})
            pub.send_multipart([b"data", ok])
            for topic in (b"Ether.shutdown", b"Ether.bye"):
                pub.send_multipart([topic, cbor2.dumps({"d": {"name": "gen"}, "s": "gen", "q": 0, "t": 2e9})])
            peak = rss_kb() - tally.rss_warm  # the backlog the recorder has not taken off its socket yet
            thread.join(600)
            trim_heap()
            summary = result[0] if result else None
            status = "did not finish" if thread.is_alive() else (summary.status if summary else "raised")
            for exc in escaped:
                tally.escape(exc, [])
            if summary is not None and summary.status != "normal":
                tally.escape(RuntimeError(f"session ended {summary.status}: {summary.note}"), [])
            rows = summary.rows if summary else 0
            malformed = summary.malformed if summary else 0
            tally.report(f"  session {status}: {rows:,} rows recorded, {malformed:,} malformed "
                         f"(the rest: topics it does not record); growth measured after the drain; at the "
                         f"end of sending {peak / 1024:+.1f} MB (ZeroMQ's queue of what it had not taken)")
        finally:
            pub.close(0)
            broker.stop()


def _bridge_input(rng: random.Random, pool: list[bytes]) -> bytes:
    from ether_lite import framing, protocol

    r = rng.random()
    if r < 0.05:
        return rng.randbytes(rng.randrange(40))  # line noise, with or without a 0x00
    if r < 0.5:
        kind = rng.choice((protocol.HELLO, protocol.DESCRIBE, protocol.PUB, protocol.ACK, protocol.PONG,
                           protocol.LOG, protocol.ERROR, protocol.QUERY, rng.randrange(256)))
        body = cbor2.dumps([kind, *(_value(rng) for _ in range(rng.randrange(8)))])
    else:
        body = _mutate(rng, rng.choice(pool))
    return framing.encode_frame(body[: framing.MAX_BODY])


def fuzz_bridge(n: int) -> None:
    from bridge_memory import Bench

    from ether_medium.bridge.manager import ATTACHED

    rng = random.Random(SEED)
    pool = [_body(rng) for _ in range(POOL)]
    b = Bench()
    b.run_until(lambda: b.mgr.state == ATTACHED, 1.0)
    node = b.node
    assert node is not None
    tally = Tally("bridge", n)
    probes = lost = 0
    for _ in range(n):
        frame = _bridge_input(rng, pool)
        before = b.mgr.counters.internal_errors
        try:
            b.host.to_host.put(frame)
            b.mgr.on_readable(b.t)
            if b.mgr.next_timer() <= b.t:
                b.mgr.on_timer(b.t)
        except Exception as exc:
            tally.escape(exc, [frame])
        if b.mgr.counters.internal_errors != before:
            tally.escape(RuntimeError("caught by the backstop (internal_errors)"), [frame])
        b.t += 0.0005
        tally.tick()
        if tally.done % 1000 == 0:
            b.sent.clear()  # the harness's record of what the bridge sent (not the bridge's memory)
            # the board answers what the host asked (QUERY, PING) and attaches again if detached
            with contextlib.suppress(AssertionError):
                b.run_until(lambda: b.mgr.state == ATTACHED, 10.0, dt=0.05)
            if b.mgr.state == ATTACHED:
                probes += 1
                seen = len(b.sink.readings)
                node.publish(b.rig.read)
                b.step()
                lost += len(b.sink.readings) == seen
                b.sink.readings.clear()
    c = b.mgr.counters
    tally.report(f"  probes {probes:,} (attached), not delivered {lost}; dropped and counted: "
                 f"cobs {c.cobs_errors:,}, crc {c.crc_errors:,}, decode {c.decode_errors:,}, "
                 f"version {c.version_errors:,}, rejected {c.rejected:,}, describe {c.describe_errors:,}, "
                 f"device errors {c.device_errors:,}, logs {c.logs:,}; "
                 f"problem kinds {len(b.mgr.problems.counts)}")
    b.close()


def fuzz_export(n: int) -> None:
    rng = random.Random(SEED)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "ether.sqlite")
        store.begin_session("s", {})
        batch: list[Any] = []
        for i in range(n):
            r = rng.random()
            if r < 0.05:
                payload = rng.randbytes(rng.randrange(12))
            elif r < 0.1:
                payload = b"\xa2\x61v" + rng.choice(RAW_ITEMS[:12]) + b"\x61w" + rng.choice(RAW_ITEMS[:12])
            else:
                # one level of nesting at most: a real session has a bounded set of columns, and Parquet
                # export holds every column of a topic in memory
                payload = cbor2.dumps({rng.choice(("v", "w", "x", "y", 1, b"k")): _value(rng, 2)
                                       for _ in range(rng.randrange(1, 4))})
            batch.append(("s", rng.choice(("a", "b/c")), "gen", i, float(i), None, None, None, payload))
            if len(batch) == 10000:
                store.insert(batch)
                batch.clear()
        store.insert(batch)
        store.end_session("s", "normal")
        session = store.resolve("s")
        for name, write in (("export csv", export_csv), ("export pq", export_parquet)):
            tally = Tally(name, n)
            tally.rss_warm = rss_kb()
            out: Any = None
            try:
                out = write(store, session, Path(tmp) / name.replace(" ", "_"))
            except Exception as exc:
                tally.escape(exc, [])
            tally.done = n
            converted = f"  {out.converted:,} values written as text" if out is not None else ""
            tally.report(converted + "  (RSS growth: during the export, which holds a table in memory)")
        store.close()


BOUNDARIES: dict[str, Callable[[int], None]] = {
    "decode": fuzz_decode, "instance": fuzz_instance, "supervisor": fuzz_supervisor,
    "recorder": fuzz_recorder, "bridge": fuzz_bridge, "export": fuzz_export,
}


def main() -> None:
    import logging

    # every log line is formatted (as on a console) and thrown away: the counts are the figures
    sink = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - open for the process's life
    sink.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - ether_lite prints what the host reports to it
    for name in ("ether", "ether.recorder"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [sink]
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
    chosen = sys.argv[1:] or list(BOUNDARIES)
    print(f"fuzz: {N:,} inputs per boundary, seed {SEED}, pool {POOL:,} bodies mutated at random")
    for name in chosen:
        with contextlib.suppress(KeyboardInterrupt):
            BOUNDARIES[name](N)


if __name__ == "__main__":
    main()
