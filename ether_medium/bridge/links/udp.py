"""Listen for a board on UDP: ``udp://0.0.0.0:5005`` (``udp://:5005``: loopback only).

One datagram is one frame (PROTOCOL.md, "Frames"). The board sends to the host's address. Until a board's
HELLO is taken the host replies to the address the last datagram came from; from then on the link keeps
that address (:meth:`UdpLink.keep_peer`): datagrams from any other address are strangers, which the link
manager drops and counts, and replies go only to the kept address. UDP has no connection to lose: the link
manager detects a board that went away by its silence past a lease (no PONG, no data), reports the device
detached, frees the address (a board that rebooted onto a new IP address or source port is then taken at
its next HELLO) and keeps listening here (``reopen_on_silence = False``).

Who may send: a UDP link binds the loopback address unless the URL names another; binding beyond loopback
logs a warning naming the link and requires the device's ``device_id`` in the config (anyone on the network
can send a HELLO; only the configured board is taken).
"""

from __future__ import annotations

import ipaddress
import logging
import socket

from ether_medium.bridge.links import Link, LinkContext, parse_link
from ether_medium.errors import LinkLost, LinkUnavailable, LinkURLError

__all__ = ["UdpLink", "create"]


_log = logging.getLogger("ether.bridge")


def create(url: str, context: LinkContext) -> UdpLink:
    """The ``udp:`` scheme."""
    return UdpLink(url, context.device)


class UdpLink(Link):
    datagram = True
    reopen_on_silence = False

    def __init__(self, url: str, device: str | None = None) -> None:
        super().__init__(url)
        self.device = device or url
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
        self.address = (host.strip("[]") or "127.0.0.1", int(port))
        self._sock: socket.socket | None = None
        self.peer: tuple[str, int] | None = None  # where replies go
        self.sender: tuple[str, int] | None = None  # the sender of the last datagram read
        self.kept: tuple[str, int] | None = None  # the board's address, after its HELLO was taken

    @property
    def exposed(self) -> bool:
        return not self.loopback

    @property
    def loopback(self) -> bool:
        """True when only this machine can send here."""
        host = self.address[0]
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False  # a host name: whatever it resolves to

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
        if self.exposed:
            _log.warning(
                "%s: the UDP link %s listens beyond loopback (%s:%d): anyone on the network may send to it; "
                "once the configured board said HELLO, datagrams from other addresses are dropped",
                self.device,
                self.url,
                *self.bound,
            )

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
        self.sender = (str(addr[0]), int(addr[1]))
        if self.kept is None:
            self.peer = self.sender
        return data

    @property
    def stranger(self) -> bool:
        return self.kept is not None and self.sender != self.kept

    @property
    def source(self) -> str:
        return "nobody yet" if self.sender is None else f"{self.sender[0]}:{self.sender[1]}"

    def keep_peer(self) -> None:
        self.kept = self.peer = self.sender

    def free_peer(self) -> None:
        self.kept = None

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
        self.peer = self.kept = None

    def close(self) -> None:
        self.kept = None
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
