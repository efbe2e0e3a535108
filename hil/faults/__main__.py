"""``python -m hil.faults``: put the fault injector between a bridge and a device by hand.

    python -m hil.faults --corrupt 0.01 --drop 0.01 --seed 7 --device /dev/pts/7
    python -m hil.faults --drop 0.05 --cmd "python -m hil.devices.serve --id bench-1"
    python -m hil.faults --corrupt 0.02 --udp 127.0.0.1:5005 --listen 5006 --target-role bridge

It prints where to attach the bridge, then a line of counters every ``--report-every`` seconds and at exit
(Ctrl-C, SIGTERM or ``--duration``). ``--cut-every``/``--cut-for`` cut the link periodically.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

from hil.faults.plan import FaultRates
from hil.faults.stream import StreamFaultProxy
from hil.faults.udp import DatagramFaultProxy


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT (for example 127.0.0.1:5005)")
    return host or "127.0.0.1", int(port)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hil.faults", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--device", metavar="PATH", help="the device's tty (a pty from `ether sim`, a port)")
    where.add_argument("--cmd", metavar="COMMAND", help="run this device command (stdin/stdout = the link)")
    where.add_argument("--udp", metavar="HOST:PORT", type=_host_port, help="forward datagrams to HOST:PORT")
    p.add_argument("--listen", type=int, default=0, help="UDP port to listen on (default: any free port)")
    p.add_argument("--target-role", choices=("bridge", "device"), default="device",
                   help="UDP: who is at --udp (the other side sends to --listen first)")
    for name in ("corrupt", "drop", "duplicate", "delay"):
        p.add_argument(f"--{name}", type=float, default=0.0, metavar="P",
                       help=f"probability per byte (per datagram on UDP) to {name} it")
    p.add_argument("--delay-s", type=float, default=0.01, help="longest delay in seconds (default 0.01)")
    p.add_argument("--seed", default="0", help="seed: the same seed and traffic replay the same faults")
    p.add_argument("--cut-every", type=float, default=0.0, metavar="S", help="cut the link every S seconds")
    p.add_argument("--cut-for", type=float, default=1.0, metavar="S", help="length of each cut (default 1 s)")
    p.add_argument("--cut-mode", choices=("close", "silence"), default="close",
                   help="close: the bridge-side pty disappears; silence: bytes are dropped")
    p.add_argument("--report-every", type=float, default=0.0, metavar="S", help="print counters every S s")
    p.add_argument("--duration", type=float, default=0.0, metavar="S", help="stop after S seconds")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rates = FaultRates(args.corrupt, args.drop, args.duplicate, args.delay, args.delay_s)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    child: subprocess.Popen[bytes] | None = None
    proxy: StreamFaultProxy | DatagramFaultProxy
    try:
        if args.udp:
            proxy = DatagramFaultProxy(
                args.udp, listen=("127.0.0.1", args.listen), target_role=args.target_role, rates=rates,
                seed=args.seed,
            )
            print(f"listening on udp://{proxy.address[0]}:{proxy.address[1]}", flush=True)
        else:
            if args.cmd:
                child = subprocess.Popen(shlex.split(args.cmd), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                assert child.stdin is not None and child.stdout is not None
                device: str | tuple[int, int] = (child.stdout.fileno(), child.stdin.fileno())
            else:
                device = args.device
            proxy = StreamFaultProxy(device, rates=rates, seed=args.seed)
            print(f"bridge side: serial://{proxy.bridge_path}", flush=True)
    except OSError as exc:
        print(f"error: cannot open the link: {exc}", file=sys.stderr)
        if child is not None:
            child.kill()
            child.wait()
        return 1
    start = next_cut = next_report = time.monotonic()
    next_cut += args.cut_every
    next_report += args.report_every
    try:
        with proxy:
            while not stop.wait(0.05):
                now = time.monotonic()
                if args.duration and now - start >= args.duration:
                    break
                if args.cut_every and now >= next_cut:
                    if isinstance(proxy, StreamFaultProxy):
                        proxy.cut(args.cut_for, args.cut_mode)
                    else:
                        proxy.cut(args.cut_for)
                    next_cut = now + args.cut_every
                if args.report_every and now >= next_report:
                    for s in proxy.stats().values():
                        print(s.summary(), flush=True)
                    next_report = now + args.report_every
                if child is not None and child.poll() is not None:
                    print(f"device command exited with status {child.returncode}", file=sys.stderr)
                    break
            print(json.dumps({k: v.as_dict() for k, v in proxy.stats().items()}), flush=True)
    except KeyboardInterrupt:
        print(json.dumps({k: v.as_dict() for k, v in proxy.stats().items()}), flush=True)
    finally:
        if child is not None:
            with contextlib.suppress(OSError):
                child.terminate()
            try:
                child.wait(3)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
