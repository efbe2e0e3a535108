"""Run a device class under CPython with ether_lite over a byte link, restarting it in place on reset.

    python -m hil.device_cpython [--link stdio|PATH|URL] [--id DEVICE_ID] MODULE:CLASS

``--link stdio`` (default) makes the process's stdin/stdout the link (what the bridge's ``cmd:`` link
starts); a path or pyserial URL opens that port. When the device's ``reset_requested`` turns true the
process re-executes itself: same link, new boot id, like a board that rebooted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hil.device_cpython", description=__doc__)
    p.add_argument("target", metavar="MODULE:CLASS", help="for example hil.devices.conformance:Thermometer")
    p.add_argument("--link", default="stdio", help="stdio (default), a tty path or a pyserial URL")
    p.add_argument("--id", dest="device_id", default=None, help="the device id to report in HELLO")
    args = p.parse_args(argv)
    module_name, _, class_name = args.target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        print(f"device_cpython: cannot load {args.target!r}: {exc}", file=sys.stderr)
        return 2
    from ether_lite import Node
    from ether_lite.links import open_link

    if os.path.exists(args.link):  # any tty path (ether_lite's own specs only know /dev/...)
        from ether_lite.links.serial import SerialLink

        link_obj = SerialLink(args.link)
    else:
        link_obj = open_link(args.link)
    device = cls()
    node = Node(device, link_obj, device_id=args.device_id)
    link = node.link
    try:
        node.run(
            until=lambda: getattr(device, "reset_requested", False) or not getattr(link, "connected", True)
        )
    except (BrokenPipeError, KeyboardInterrupt):
        return 0
    finally:
        node.close()
    if getattr(device, "reset_requested", False):
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, "-m", "hil.device_cpython", *sys.argv[1:]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
