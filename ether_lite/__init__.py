"""ether_lite: the device side of Ether. Runs on CircuitPython, MicroPython and CPython.

    from ether_lite import ether_pub, ether_sub, run

PROTOCOL.md (repo root) is the wire protocol; this package imports nothing a board lacks.

What a board keeps loaded (bench/lite.py measures it): this module, ``node``, ``endpoints``, ``clock``,
``cbor_core``, ``framing_core``, ``links`` and the one link module chosen. What it loads for the occasion
and drops again (RAM: see ``ether_lite.node``): ``startup``, ``fields``, ``receive``, ``cbor_decoder``,
``report``.
The host side, which a board never imports: ``cbor`` (the full codec), ``framing`` (one-shot framing
helpers, ``FrameError``), ``protocol``.
"""

__version__ = "0.1.0"

from ether_lite.endpoints import ether_pub, ether_sub
from ether_lite.node import Node, _drop, log


def run(*objs, link="usb_cdc", device_id=None, until=None, key=None):
    """Serve the decorated methods of ``objs`` over ``link`` (a spec such as ``"usb_cdc"``, ``"uart"``,
    ``"udp://host:port"``, ``"stdio"``, a pyserial URL, or a link object) until ``until()`` is true.
    ``key`` (bytes or text, shared with the host's config) makes every frame carry a MAC (PROTOCOL.md 6.1;
    the board needs ``hashlib`` or ``adafruit_hashlib``)."""
    from ether_lite.links import open_link

    opened = open_link(link)
    # a board keeps the chosen link module, not the code that chose it (RAM: ether_lite.node._drop)
    del open_link
    _drop("links")
    node = Node(objs, opened, device_id=device_id, key=key)
    try:
        node.run(until)
    finally:
        node.close()
        if opened is not link:  # run() opened it from a spec: it closes it (stdio: Ctrl-C and print() back)
            opened.close()
    return node


__all__ = ["Node", "__version__", "ether_pub", "ether_sub", "log", "run"]
