"""Links: the byte transports a Node speaks over, one module per kind, chosen by a short spec.

The contract every link meets (the in-memory pair in ``links.memory`` is the reference):

- ``readinto(buf) -> int``: copy bytes that have arrived into ``buf``; never blocks; 0 when nothing.
- ``write(buf, n)``: send ``buf[:n]`` (a whole frame; on UDP, one datagram).
- ``connected``: false while nobody listens (USB CDC without DTR); the Node sends HELLO when it turns true.
- ``wait(timeout_ms)`` (optional): return when bytes may be readable or the timeout passed.
- ``eof`` (optional): true once the other end closed for good (a pipe); ``Node.run`` then returns.
- ``close()``.

``open_link(spec)``: ``"usb_cdc"``, ``"uart"`` / ``"uart:BAUD"``, ``"udp://HOST:PORT"``, ``"stdio"`` (CPython: print() then
goes to stderr; MicroPython under Node: links.node_stdio),
``"pipe:RFD,WFD"``, any other pyserial URL or device path (``"/dev/ttyACM0"``, ``"socket://h:p"``, ``"loop://"``),
or an object that already has ``readinto`` and ``write``. Only the module for the chosen kind is imported.
"""


def open_link(spec):
    if not isinstance(spec, str):
        if hasattr(spec, "readinto") and hasattr(spec, "write"):
            return spec
        raise ValueError("link %r is neither a spec string nor an object with readinto() and write()" % (spec,))
    if spec == "usb_cdc":
        from ether_lite.links import usb_cdc

        return usb_cdc.UsbCdcLink()
    if spec == "uart" or spec.startswith("uart:"):
        from ether_lite.links import uart

        return uart.UartLink(int(spec[5:]) if spec.startswith("uart:") else 115200)
    if spec.startswith("udp://"):
        from ether_lite.links import udp

        host, port = udp.parse_address(spec[6:])
        return udp.UdpLink(host, port)
    if spec == "stdio":
        try:  # MicroPython under Node.js (tests/micropython/run.mjs --stdio-link)
            from ether_lite.links import node_stdio

            return node_stdio.NodeStdioLink()
        except ImportError:
            from ether_lite.links import pipe

            return pipe.stdio()
    if spec.startswith("pipe:"):
        from ether_lite.links import pipe

        r, w = spec[5:].split(",")
        return pipe.PipeLink(int(r), int(w))
    if "://" in spec or spec.startswith("/dev/") or spec.upper().startswith("COM"):
        from ether_lite.links import serial

        return serial.SerialLink(spec)
    raise ValueError(
        "unknown link %r: use usb_cdc, uart[:BAUD], udp://HOST:PORT, stdio, pipe:RFD,WFD, or a pyserial URL" % spec
    )
