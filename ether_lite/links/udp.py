"""UDP: one datagram is one frame (PROTOCOL.md, "Frames"). The device sends to the host's address
and port; the host answers to the address the datagram came from.

CircuitPython: ``socketpool.SocketPool(wifi.radio)`` (the board must already be on the network).
CPython and MicroPython ports with sockets: ``socket``.
"""

try:
    from micropython import const
except ImportError:  # CPython: every const here is an int
    const = int


_MAX_DATAGRAM = const(512)


def from_spec(spec):
    """``"udp://HOST:PORT"``."""
    host, port = parse_address(spec[6:])
    return UdpLink(host, port)


def parse_address(text):
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError("UDP address %r is not HOST:PORT" % text)
    return host.strip("[]"), int(port)


def _socket_module():
    try:
        import socketpool
        import wifi

        return socketpool.SocketPool(wifi.radio)
    except ImportError:
        import socket

        return socket


class UdpLink:
    rx_size = _MAX_DATAGRAM  # a datagram is read whole: the Node's read buffer must hold the largest

    def __init__(self, host, port, bind_port=0):
        mod = _socket_module()
        self._mod = mod
        self.address = mod.getaddrinfo(host, port)[0][-1]
        self.sock = mod.socket(mod.AF_INET, mod.SOCK_DGRAM)
        if bind_port:
            self.sock.bind(("0.0.0.0", bind_port))
        self.sock.setblocking(False)
        self.connected = True

    def readinto(self, buf):
        try:
            n, _ = self.sock.recvfrom_into(buf)
        except OSError:  # EAGAIN: nothing there (socketpool raises OSError too)
            return 0
        return n

    def write(self, buf, n=-1):
        if n < 0 or n == len(buf):
            data = buf
        else:
            data = memoryview(buf)[:n]
        try:
            self.sock.sendto(data, self.address)
        except OSError:  # no route / buffer full: the frame is lost, as on any datagram link
            pass

    def wait(self, timeout_ms):
        try:
            import select

            select.select([self.sock], [], [], timeout_ms / 1000)
        except (ImportError, TypeError, OSError):
            pass

    def close(self):
        self.sock.close()
        self.connected = False
