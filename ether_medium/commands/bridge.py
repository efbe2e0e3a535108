"""``ether bridge LINK``: attach one device without a fabric and print what it publishes, one line each.

For quick checks of a board or a simulated device::

    ether bridge serial:///dev/ttyACM0
    ether bridge udp://0.0.0.0:5005 --id e6614c311b7a5a2b
    ether bridge sim:thermo:Thermometer --send 'Thermometer.set_led={"on": true}'

Attach, detach, device LOG lines and delivery outcomes are printed too; Ctrl-C (or ``--duration``) stops
and prints the link counters.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import Any

from ether_medium.bridge.endpoints import Endpoint
from ether_medium.bridge.keying import read_key_file
from ether_medium.bridge.loop import BridgeLoop
from ether_medium.bridge.manager import Delivery, LinkManager, Reading
from ether_medium.errors import LinkUnavailable

HELP = "attach one device by its link and print what it publishes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "link",
        metavar="LINK",
        help="serial:///dev/ttyACM0[?baud=N], serial:///dev/serial/by-id/*, udp://0.0.0.0:5005, "
        "sim:module:Class or cmd:COMMAND",
    )
    parser.add_argument("--name", default="device", help="the device's name in the output (default: device)")
    parser.add_argument(
        "--id",
        dest="device_id",
        default=None,
        help="attach only the board with this device id (and scan a glob's ports for it)",
    )
    parser.add_argument(
        "--key-file",
        default=None,
        metavar="PATH",
        help="a keyed link (PROTOCOL.md 6.1): the shared secret the board passes to run(..., key=), in a "
        "file only you can read (chmod 600)",
    )
    parser.add_argument(
        "--send",
        action="append",
        default=[],
        metavar="TOPIC=JSON",
        help="after attaching, deliver this to a device subscriber, e.g. "
        "'Thermometer.set_led={\"on\": true}' (repeatable)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this long (default: until Ctrl-C)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="print only attach/detach, logs and the counters"
    )


def _stamp(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int((t % 1) * 1000):03d}"


class PrintSink:
    def __init__(self, sends: list[tuple[str, dict[str, Any]]], quiet: bool) -> None:
        self.sends = sends
        self.quiet = quiet
        self.lines = 0
        self.delivered: set[str] = set()  # topics of --send that the device acknowledged
        self.failed: list[str] = []  # why deliveries failed

    def _print(self, text: str) -> None:
        print(text, flush=True)
        self.lines += 1

    def attached(self, mgr: LinkManager) -> None:
        info = mgr.info
        assert info is not None
        self._print(
            f"{_stamp(time.time())} {mgr.name} attached: id {info.device_id} boot {info.boot_id} "
            f"firmware {info.firmware!r} on {mgr.link.where}"
        )
        for ep in sorted(mgr.endpoints.values(), key=lambda e: e.topic_id):
            self._print(f"    {ep.signature()}")
        for topic, data in self.sends:
            mgr.deliver(topic, data, self._delivered)

    def _delivered(self, d: Delivery) -> None:
        if d.error is None:
            self.delivered.add(d.topic)
            self._print(
                f"{_stamp(time.time())} delivered {d.topic} {json.dumps(d.data)} "
                f"(ACK after {(d.rtt or 0) * 1000:.2f} ms, {d.tries} tr{'y' if d.tries == 1 else 'ies'})"
            )
        else:
            self.failed.append(f"{d.topic}: {d.error}")
            self._print(f"{_stamp(time.time())} NOT delivered {d.topic} {json.dumps(d.data)}: {d.error}")

    def detached(self, mgr: LinkManager, reason: str) -> None:
        self._print(f"{_stamp(time.time())} {mgr.name} detached: {reason}")

    def publish(self, mgr: LinkManager, ep: Endpoint, data: dict[str, Any], reading: Reading) -> None:
        if self.quiet:
            return
        if reading.device_time is not None and reading.uncertainty is not None:
            when = f"device {_stamp(reading.device_time)} ±{reading.uncertainty * 1000:.1f} ms"
        else:
            when = "device time not synced yet"
        self._print(
            f"{_stamp(reading.host_time)} {ep.topic} #{reading.device_seq} "
            f"{json.dumps(data, default=repr)} ({when})"
        )

    def device_log(self, mgr: LinkManager, level: int, text: str) -> None:
        self._print(f"{_stamp(time.time())} [{mgr.name}] {logging.getLevelName(level)} {text}")


def _parse_sends(items: list[str]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for item in items:
        topic, sep, text = item.partition("=")
        try:
            data = json.loads(text) if sep else None
        except json.JSONDecodeError as exc:
            raise ValueError(f"--send {item!r}: the data after '=' is not JSON ({exc.msg})") from exc
        if not isinstance(data, dict):
            raise ValueError(
                f"--send {item!r}: expected TOPIC={{JSON map}}, e.g. 'Relay.set={{\"on\": true}}'"
            )
        out.append((topic.strip(), data))
    return out


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s.%(msecs)03d - Ether:%(process)d - %(levelname)s - %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
    )
    try:
        sends = _parse_sends(args.send)
        sink = PrintSink(sends, args.quiet)
        key = None if args.key_file is None else read_key_file(args.key_file, "--key-file")
        mgr = LinkManager(args.name, args.link, sink, device_id=args.device_id, key=key)
    except (ValueError, LinkUnavailable) as exc:
        print(f"ether bridge: {exc}", file=sys.stderr)
        return 2
    loop = BridgeLoop()
    loop.add(mgr)
    print(f"ether bridge: attaching {args.link} (Ctrl-C stops)", file=sys.stderr, flush=True)
    deadline = None if args.duration is None else time.monotonic() + args.duration
    code = 0
    try:
        mgr.start()
        bound = getattr(mgr.link, "bound", None)
        if bound is not None and mgr.link.is_open:
            print(
                f"ether bridge: listening on UDP {bound[0]}:{bound[1]} for the board",
                file=sys.stderr,
                flush=True,
            )
        loop.run(until=None if deadline is None else (lambda: time.monotonic() >= deadline), start=False)
    except KeyboardInterrupt:
        code = 0  # Ctrl-C is how a user ends it
    finally:
        mgr.close("stopped")
        loop.close()
    print(f"{mgr.name} link counters: {mgr.counters.summary()}", flush=True)
    return code or _send_outcome(sink)


def _send_outcome(sink: PrintSink) -> int:
    """1 (with the reasons on stderr) when a ``--send`` failed or never reached the device, else 0."""
    never = [topic for topic, _ in sink.sends if topic not in sink.delivered]
    if not sink.failed and not never:
        return 0
    for why in sink.failed:
        print(f"ether bridge: delivery failed: {why}", file=sys.stderr)
    for topic in dict.fromkeys(never):
        print(f"ether bridge: --send {topic} was not delivered", file=sys.stderr)
    return 1
