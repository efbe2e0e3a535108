"""Listen for a board on UDP: ``udp://0.0.0.0:5005``.

One datagram is one frame (PROTOCOL.md, "Frames"). The board sends to the host's address; the host
replies to the address the last datagram came from, so a board that rebooted onto a new IP address or
source port is followed. UDP has no connection to lose: the link manager detects a board that went away by
its silence past a lease (no PONG, no data), reports the device detached, and keeps listening here
(``reopen_on_silence = False``).
"""

from __future__ import annotations

import socket

from ether_medium.bridge.links import Link, LinkContext, parse_link
from ether_medium.errors import LinkLost, LinkUnavailable, LinkURLError

__all__ = ["UdpLink", "create"]


def create(url: str, context: LinkContext) -> UdpLink:
    """The ``udp:`` scheme."""
    return UdpLink(url)


class UdpLink(Link):
    datagram = True
    reopen_on_silence = False

    def __init__(self, url: str) -> None:
        super().__init__(url)
        _, hostport, opts = parse_link(url)
        if opts:
            raise LinkURLError(url, f"unknown option(s) {sorted(opts)}; udp:// takes none")
        host, sep, port = hostport.rpartition(":")
        if not sep or not port.isdigit():
            raise LinkURLError(url, "expected udp://ADDRESS:PORT, e.g. udp://0.0.0.0:5005")
        if int(port) > 65535:
            raise LinkURLError(
                url, f"UDP port {port} of {url!r} is out of range: a port is 0-65535 (0: any free port)"
            )
        self.address = (host.strip("[]") or "0.0.0.0", int(port))
        self._sock: socket.socket | None = None
        self.peer: tuple[str, int] | None = None

    def open(self) -> None:
        self.close()
        family = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind(self.address)
        except OSError as exc:
            sock.close()
            raise LinkUnavailable(
                self.url, f"cannot listen on {self.address[0]}:{self.address[1]}: {exc.strerror}"
            ) from exc
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self._sock = sock

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    @property
    def bound(self) -> tuple[str, int]:
        """The address actually bound (port 0 in the URL picks a free port)."""
        if self._sock is None:
            return self.address
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    @property
    def where(self) -> str:
        if self.peer is None:
            return f"udp listening on {self.bound[0]}:{self.bound[1]}"
        return f"udp {self.peer[0]}:{self.peer[1]}"

    @property
    def can_send(self) -> bool:
        return self.peer is not None

    def fileno(self) -> int:
        return -1 if self._sock is None else self._sock.fileno()

    def read(self) -> bytes:
        if self._sock is None:
            raise LinkLost(self.url, "not open")
        try:
            data, addr = self._sock.recvfrom(2048)
        except BlockingIOError:
            return b""
        except ConnectionRefusedError:
            return b""  # ICMP port unreachable from an earlier reply: the board is away; keep listening
        except OSError as exc:
            raise LinkLost(self.url, f"receive failed: {exc.strerror}") from exc
        self.peer = (str(addr[0]), int(addr[1]))
        return data

    def write(self, data: bytes) -> None:
        if self._sock is None:
            raise LinkLost(self.url, "not open")
        if self.peer is None:
            return  # nobody to reply to yet; callers check can_send
        try:
            self._sock.sendto(data, self.peer)
        except (BlockingIOError, ConnectionRefusedError):
            pass  # a datagram link may lose frames; DELIVER is retransmitted, PING repeated
        except OSError as exc:
            raise LinkLost(self.url, f"send to {self.peer[0]}:{self.peer[1]} failed: {exc.strerror}") from exc

    def forget_peer(self) -> None:
        self.peer = None

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
