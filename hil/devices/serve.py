"""Serve the conformance device over a link, restarting it in place when it asks for a reset.

The same file runs under CPython and under MicroPython (through ``tests/micropython/run.mjs
--stdio-link``, where ``ARGV`` holds the arguments because that port has no ``sys.argv``)::

    python -m hil.devices.serve [--id DEVICE_ID] [--link stdio|PATH|URL]
    node tests/micropython/run.mjs --copy ether_lite=/lib/ether_lite --copy hil/devices=/lib/hil/devices \
        --stdio-link hil/devices/serve.py --id DEVICE_ID

A reset starts a fresh device and node on the same link: a new boot id, as after a board reboots.
"""

import sys

from ether_lite import Node
from ether_lite.links import open_link

try:
    from hil.devices.conformance import Thermometer
except ImportError:  # MicroPython without the hil package layout
    from conformance import Thermometer


def _open(spec):
    if spec.startswith("/") and not spec.startswith("/dev/"):  # any tty path, e.g. a symlink to a pty
        from ether_lite.links.serial import SerialLink

        return SerialLink(spec)
    return open_link(spec)


def serve(link, device_id=None, cls=Thermometer):
    """Serve ``cls()`` over ``link`` until the link ends; returns how many resets happened."""
    resets = 0
    while True:
        device = cls()
        node = Node(device, link, device_id=device_id)
        try:
            node.run(lambda: device.reset_requested or not getattr(link, "connected", True))  # noqa: B023
        finally:
            node.close()
        if not device.reset_requested:
            return resets
        resets += 1


def main(args):
    device_id = None
    spec = "stdio"
    i = 0
    while i < len(args):
        if args[i] == "--id" and i + 1 < len(args):
            device_id = args[i + 1]
        elif args[i] == "--link" and i + 1 < len(args):
            spec = args[i + 1]
        else:
            print("serve: unknown argument %r; use --id DEVICE_ID and --link LINK" % args[i])
            return 2
        i += 2
    link = _open(spec)
    try:
        serve(link, device_id)
    except KeyboardInterrupt:
        pass
    finally:
        link.close()  # links.stdio: Ctrl-C and print() back
    return 0


if __name__ == "__main__":
    _args = globals().get("ARGV") or sys.argv
    sys.exit(main(_args[1:]))
