"""``ether devices``: the serial ports of this computer, with USB VID:PID, and the ether_lite boards on them.

Each USB serial port (and each PORT given on the command line, e.g. a pty from ``ether sim``) is opened
exclusively and sent a QUERY; a board running ether_lite answers with HELLO and DESCRIBE within
``--timeout`` and is listed with its device id (the stable identity to put in a config's
``devices:<name>.device_id``), firmware and topics. Ports that are busy (another program or a running bridge
has them) are listed as such and not touched.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from typing import Any

import serial.tools.list_ports

from ether_medium.bridge.endpoints import Endpoint
from ether_medium.bridge.links.serial import SerialLink
from ether_medium.bridge.loop import BridgeLoop
from ether_medium.bridge.manager import ATTACHED, LinkManager, Reading

HELP = "list serial ports and the ether_lite boards that answer on them"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "ports",
        nargs="*",
        metavar="PORT",
        help="also probe these ports or globs (e.g. a pty printed by ether sim)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="how long to wait for boards to answer (default 1.0)",
    )
    parser.add_argument("--no-probe", action="store_true", help="list the ports only; send nothing")
    parser.add_argument("--all", action="store_true", help="probe every serial port, not only USB ones")


class _Quiet:
    """A sink that keeps nothing: probing only needs the HELLO/DESCRIBE the manager records."""

    def attached(self, mgr: LinkManager) -> None:
        pass

    def detached(self, mgr: LinkManager, reason: str) -> None:
        pass

    def publish(self, mgr: LinkManager, ep: Endpoint, data: dict[str, Any], reading: Reading) -> None:
        pass

    def device_log(self, mgr: LinkManager, level: int, text: str) -> None:
        pass


def probe(paths: list[str], timeout_s: float) -> dict[str, LinkManager | str]:
    """Per path: the manager that attached the board there, or why nothing did."""
    logger = logging.getLogger("ether.bridge.probe")
    logger.setLevel(logging.CRITICAL)
    loop = BridgeLoop()
    out: dict[str, LinkManager | str] = {}
    managers: dict[str, LinkManager] = {}
    for path in paths:
        link = SerialLink(f"serial://{path}")
        try:
            link.open()
        except Exception as exc:  # busy, gone, permission: say so, probe the others
            out[path] = getattr(exc, "reason", str(exc))
            continue
        mgr = LinkManager(path, link, _Quiet(), logger=logger)
        managers[path] = mgr
        loop.add(mgr)
        mgr.on_link_opened(time.monotonic())
    deadline = time.monotonic() + timeout_s
    try:
        loop.run(
            until=lambda: time.monotonic() >= deadline or all(m.state == ATTACHED for m in managers.values()),
            start=False,
        )
    finally:
        loop.close()
    for path, mgr in managers.items():
        out[path] = mgr if mgr.info is not None else f"no ether_lite answer within {timeout_s:g} s"
    return out


def main(args: argparse.Namespace) -> int:
    ports = list(serial.tools.list_ports.comports())
    rows: list[tuple[str, str, str]] = []
    to_probe: list[str] = []
    for p in sorted(ports, key=lambda p: p.device):
        usb = f"{p.vid:04x}:{p.pid:04x}" if p.vid is not None and p.pid is not None else "-"
        desc = " ".join(
            x
            for x in (
                p.manufacturer,
                p.product or p.description,
                p.serial_number and f"serial {p.serial_number}",
            )
            if x and x != "n/a"
        )
        if p.vid is not None or args.all:
            to_probe.append(p.device)
        elif not desc:
            desc = "not USB; not probed (--all probes it)"
        rows.append((p.device, usb, desc))
    seen = {os.path.realpath(p) for p in to_probe}
    for spec in args.ports:
        found = [p for p in SerialLink(f"serial://{spec}").candidates() if os.path.exists(p)]
        if not found:
            rows.append((spec, "-", "no such port"))
        for path in found:
            real = os.path.realpath(path)
            if real in seen:
                continue
            seen.add(real)
            rows.append((path, "-", "given on the command line" + (f" ({real})" if real != path else "")))
            to_probe.append(path)
    if not rows:
        print("no serial ports found (plug in a board, or give a port such as a pty from `ether sim`)")
        return 0
    results = {} if args.no_probe else probe(to_probe, args.timeout)
    width = max(len(r[0]) for r in rows)
    for path, usb, desc in rows:
        print(f"{path:<{width}}  {usb:<9}  {desc}".rstrip())
        res = results.get(path)
        if isinstance(res, LinkManager) and res.info is not None:
            info = res.info
            print(
                f"{'':<{width}}  ether_lite device id {info.device_id}, boot {info.boot_id}, {info.firmware}"
            )
            for ep in sorted(res.endpoints.values(), key=lambda e: e.topic_id):
                print(f"{'':<{width}}      {ep.signature()}")
        elif isinstance(res, str):
            print(f"{'':<{width}}  {res}")
    return 0
