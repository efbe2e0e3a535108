"""``ether status``: one screen on a running fabric: its processes (pid, state, restarts), its devices (link,
attached, the rates of their topics, round-trip time, errors) and its recorder (rows, lag). ``--json``
prints the same as one object; ``--watch`` redraws it every second."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

from ether_medium.fabric.requests import Requester
from ether_medium.observe.attach import RunningFabric, add_fabric_argument, fabric_or_say_why
from ether_medium.observe.recorder_lag import RecorderLag
from ether_medium.observe.sampler import Sampler
from ether_medium.observe.status import BAD_FRAME_COUNTERS, FabricStatus, ask_status
from ether_medium.observe.table import LiveScreen, table
from ether_medium.topics import is_fabric_topic

HELP = "show a running fabric's processes, devices and recorder on one screen"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--watch", action="store_true", help="redraw every second until Ctrl-C")
    parser.add_argument("--seconds", type=float, default=2.0, help="how long to measure rates (default 2)")
    add_fabric_argument(parser)


def device_rates(sampler: Sampler, device: str, now: float) -> dict[str, float]:
    return {t: round(s.sources[device].rate_hz(now), 3) for t, s in sorted(sampler.stats.items())
            if device in s.sources and not is_fabric_topic(t)}


def snapshot(status: FabricStatus, sampler: Sampler, lag: RecorderLag, now: float) -> dict[str, Any]:
    out = status.as_dict()
    for name, dev in out["devices"].items():
        dev["rates_hz"] = device_rates(sampler, name, now)
        rtts = dev.get("rtt_s") or []
        dev["rtt_ms"] = round(statistics.median(rtts) * 1000, 3) if rtts else None
        counters = dev.get("counters") or {}
        dev["errors"] = {k: v for k, v in counters.items() if k in (*BAD_FRAME_COUNTERS, "sequence_gaps",
                         "delivery_failures", "device_errors", "rejected") and v}
    out["recorder"] = {**out["recorder"], "lag_s": lag.lag_s(), "rows": out["recorder"].get("committed")}
    return out


def render(snap: dict[str, Any]) -> str:
    parts = [f"session {snap['session']} (launcher PID {snap['launcher_pid']})", ""]
    placed = any(c.get("node") for c in snap["children"])  # a cluster engine's session: each one's node
    head = ["PROCESS", "KIND", "PID", "STATE", "RESTARTS", "UP_S", *(["NODE"] if placed else [])]
    rows = []
    for c in snap["children"]:
        up = f"{c['up_s']:.0f}" if c.get("up_s") is not None else "-"
        rows.append([c["name"], c["kind"], c["pid"], c["state"], c["restarts"], up,
                     *([c.get("node") or "-"] if placed else [])])
    parts.append(table(head, rows))
    if snap["devices"]:
        parts.append("")
        rows = []
        for name, d in sorted(snap["devices"].items()):
            c = d.get("counters") or {}
            rates = ", ".join(f"{t} {r:.2f}/s" for t, r in d["rates_hz"].items()) or "-"
            errors = ", ".join(f"{k}={v}" for k, v in d["errors"].items()) or "none"
            rows.append([name, d.get("link"), "yes" if d.get("attached") else f"no ({d.get('state')})",
                         rates, d["rtt_ms"] if d["rtt_ms"] is not None else "-", c.get("frames_in"),
                         c.get("frames_out"), errors])
        parts.append(table(["DEVICE", "LINK", "ATTACHED", "RATES", "RTT_MS", "IN", "OUT", "ERRORS"], rows))
    rec = snap["recorder"]
    parts.append("")
    if rec.get("rows") is None:
        parts.append("recorder: no progress report yet (none running, or nothing recorded)")
    else:
        lag = rec.get("lag_s")
        parts.append(f"recorder: {rec.get('rows')} rows committed, {rec.get('pending', 0)} pending, "
                     f"lag {'-' if lag is None else f'{lag:.2f} s'}")
    parts.extend(f"problem: {p}" for p in snap["problems"])
    return "\n".join(parts)


def _measure(fabric: RunningFabric, requester: Requester, sampler: Sampler, lag: RecorderLag,
             seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        for env in sampler.poll(left):
            lag.add(env)
    status = ask_status(requester)
    return snapshot(status, sampler, lag, time.time())


def main(args: argparse.Namespace) -> int:
    fabric = fabric_or_say_why("status", args.fabric)
    if fabric is None:
        return 2
    sampler = Sampler(fabric.addresses, [""], name="status")
    requester: Requester | None = None
    screen = LiveScreen() if args.watch else None
    lag = RecorderLag()
    try:
        sampler.start()
        requester = Requester(fabric.addresses, "status")
        while True:
            snap = _measure(fabric, requester, sampler, lag, args.seconds if screen is None else 1.0)
            text = json.dumps(snap) if args.json else render(snap)
            if screen is None:
                print(text)
                return 0
            screen.show(text)
    except TimeoutError as exc:
        print(f"ether status: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    finally:
        if screen is not None:
            screen.close()
        if requester is not None:
            requester.close()
        sampler.close()
