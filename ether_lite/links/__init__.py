"""Links: the byte transports a Node speaks over, one module per kind, chosen by a short spec.

The contract every link meets (the in-memory pair in ``links.memory`` is the reference):

- ``readinto(buf) -> int``: copy bytes that have arrived into ``buf``; never blocks; 0 when nothing.
- ``write(buf, n)``: send ``buf[:n]`` (a whole frame; on UDP, one datagram).
- ``connected``: false while nobody listens (USB CDC without DTR); the Node sends HELLO when it turns true.
- ``wait(timeout_ms)`` (optional): return when bytes may be readable or the timeout passed.
- ``eof`` (optional): true once the other end closed for good (a pipe); ``Node.run`` then returns.
- ``rx_size`` (optional): the read buffer the link needs (UDP: a whole datagram); else a Node reads 64 bytes
  at a time.
- ``close()``.

``open_link(spec)``: ``"usb_cdc"``, ``"uart"`` / ``"uart:BAUD"``, ``"udp://HOST:PORT"``, ``"stdio"`` (CPython:
links.pipe, print() then goes to stderr; MicroPython and CircuitPython: links.stdio, the REPL's own line,
print() then becomes LOG frames), ``"pipe:RFD,WFD"``, any other pyserial URL or device path (``"/dev/ttyACM0"``, ``"socket://h:p"``, ``"loop://"``),
or an object that already has ``readinto`` and ``write``. Only the module for the chosen kind is imported:
the part of the spec before its first ``:`` names it (any unknown one is a pyserial URL), and that module's ``from_spec(spec)`` opens the link.
"""

import sys


def open_link(spec):
    if not isinstance(spec, str):
        if hasattr(spec, "readinto") and hasattr(spec, "write"):
            return spec
        raise ValueError("link %r is neither a spec string nor an object with readinto() and write()" % (spec,))
    kind = spec.split(":")[0]
    # plain import statements, so that `ether deploy` finds every link module a board may load
    if kind == "usb_cdc":
        from ether_lite.links import usb_cdc as link
    elif kind == "uart":
        from ether_lite.links import uart as link
    elif kind == "udp":
        from ether_lite.links import udp as link
    elif kind == "stdio" and sys.implementation.name != "cpython":
        from ether_lite.links import stdio as link
    elif kind in ("stdio", "pipe"):
        from ether_lite.links import pipe as link
    else:
        from ether_lite.links import serial as link
    return link.from_spec(spec)
