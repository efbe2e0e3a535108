"""The device's end of each built-in host link, for ``check_link`` (ether_medium.bridge.links.testing):
a pty (serial:), a UDP socket (udp:), and a Unix socket that a relay child bridges to its stdin/stdout
(cmd:, with pipes or a pty). Each peer and everything it starts is closed by ``close()``."""

from __future__ import annotations

import contextlib
import os
import select
import socket
import sys
import tempfile
import time
import tty

from ether_medium.bridge.links.cmd import CommandLink
from ether_medium.bridge.links.serial import SerialLink
from ether_medium.bridge.links.udp import UdpLink


class _Peer:
    """recv() and hang_up() of a peer whose ``_read(left_s)`` returns what came within ``left_s``."""

    def _read(self, left: float) -> bytes:
        raise NotImplementedError

    def recv(self, n: int, timeout_s: float) -> bytes:
        got = b""
        deadline = time.monotonic() + timeout_s
        while len(got) < n and time.monotonic() < deadline:
            got += self._read(deadline - time.monotonic())
        return got

    def hang_up(self) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError


class PtyPeer(_Peer):
    """A pseudo-terminal: the host opens its slave path as a serial port; the device is the master."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def _read(self, left: float) -> bytes:
        if select.select([self.master], [], [], max(0.0, left))[0]:
            with contextlib.suppress(BlockingIOError):
                return os.read(self.master, 65536)
        return b""

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.master = self.slave = -1


def serial_pair() -> tuple[SerialLink, PtyPeer]:
    peer = PtyPeer()
    return SerialLink(f"serial://{peer.path}"), peer


class UdpPeer(_Peer):
    """A board on UDP: it sends to the address the link listens on; the link replies to it."""

    def __init__(self, link: UdpLink) -> None:
        self.link = link
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.link.bound)

    def _read(self, left: float) -> bytes:
        if select.select([self.sock], [], [], max(0.0, left))[0]:
            return self.sock.recv(65536)
        return b""

    def close(self) -> None:
        self.sock.close()


def udp_pair() -> tuple[UdpLink, UdpPeer]:
    link = UdpLink("udp://127.0.0.1:0")
    return link, UdpPeer(link)


RELAY = r"""
import os, select, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
while True:
    r = select.select([0, s], [], [])[0]
    if 0 in r:
        d = os.read(0, 65536)
        if not d:
            break
        s.sendall(d)
    if s in r:
        d = s.recv(65536)
        if not d:
            break
        while d:
            d = d[os.write(1, d):]
"""


class RelayPeer(_Peer):
    """A child that relays its stdin/stdout to a Unix socket this peer listens on: the device is the socket.
    Each time the link opens (starts the child again) the newest connection is the device."""

    def __init__(self) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="ether-relay-")
        self.path = os.path.join(self.dir.name, "dev")
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(4)
        self.conn: socket.socket | None = None

    def argv(self) -> list[str]:
        return [sys.executable, "-c", RELAY, self.path]

    def _device(self, timeout_s: float = 5.0) -> socket.socket:
        """The connection of the newest child (the link's latest open()); one that ended is dropped."""
        conn = self.conn
        if conn is not None and select.select([conn], [], [], 0)[0] and not conn.recv(1, socket.MSG_PEEK):
            conn.close()  # that child was stopped (the link closed): wait for the next one
            self.conn = conn = None
        deadline = time.monotonic() + timeout_s
        while True:
            wait = 0.0 if conn is not None else max(0.0, deadline - time.monotonic())
            if not select.select([self.server], [], [], wait)[0]:
                if conn is None:
                    raise AssertionError("the relay child did not connect")
                return conn
            if conn is not None:
                conn.close()
            self.conn = conn = self.server.accept()[0]

    def send(self, data: bytes) -> None:
        self._device().sendall(data)

    def _read(self, left: float) -> bytes:
        conn = self._device()
        if select.select([conn], [], [], max(0.0, left))[0]:
            return conn.recv(65536)
        return b""

    def hang_up(self) -> None:
        if self.conn is not None:
            self.conn.close()  # the relay child sees end of file and exits: its stdout closes
            self.conn = None

    def close(self) -> None:
        self.hang_up()
        self.server.close()
        self.dir.cleanup()


def cmd_pair(pty: bool = False) -> tuple[CommandLink, RelayPeer]:
    peer = RelayPeer()
    return CommandLink("cmd:relay", peer.argv(), pty=pty), peer


def true_scheme(url: str, context: object) -> CommandLink:
    """A third party's link scheme (tests of the registry): a child that exits at once."""
    return CommandLink(url, [sys.executable, "-c", "pass"])
