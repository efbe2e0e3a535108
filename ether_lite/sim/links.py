"""Byte links for running device code on the desktop: a pty the host opens like a board's serial port,
and pacing that makes any link as slow as a real UART.

Both meet ether_lite's link contract (``readinto``, ``write``, ``connected``, ``wait``, ``close``; see
``ether_lite.links``).
"""

from __future__ import annotations

import os
import select
import time
import tty
from typing import Protocol

BITS_PER_BYTE = 10  # start bit, 8 data bits, stop bit (8N1)
_OVERSLEEP_S = 0.010  # a process may wake this late from time.sleep on a busy machine: a write that
# follows sooner continues the stream (the line did not idle; the device was only slow to get back)

ReadableBuffer = bytes | bytearray | memoryview
WritableBuffer = bytearray | memoryview


class ByteLink(Protocol):
    """What the simulator needs of a link (ether_lite's contract, see ``ether_lite.links``): PacedLink uses
    ``connected``, ``wait`` and ``describe`` too when the link it paces has them."""

    def readinto(self, buf: WritableBuffer, /) -> int: ...

    def write(self, buf: ReadableBuffer, n: int = -1, /) -> None: ...

    def close(self) -> None: ...


class PtyLink:
    """The device end of a pseudo-terminal. The host opens :attr:`path` (``/dev/pts/N``) like a USB
    serial port; ``connected`` is true while it has the port open (as DTR is on a board), and bytes
    written while nobody has it open are dropped, as a board's are."""

    def __init__(self, write_timeout_s: float = 1.0) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing, no CR/LF translation: a byte pipe (persists)
        self.path = os.ttyname(slave)
        os.close(slave)  # the host's open is the only one: POLLHUP on the master says "not connected"
        os.set_blocking(master, False)
        self.fd = master
        self.write_timeout_s = write_timeout_s
        self.dropped_bytes = 0
        self._poll = select.poll()
        self._poll.register(master, select.POLLIN | select.POLLHUP)

    def describe(self) -> str:
        return "pty " + self.path

    @property
    def connected(self) -> bool:
        if self.fd < 0:
            return False
        return not any(ev & select.POLLHUP for _, ev in self._poll.poll(0))

    def readinto(self, buf: WritableBuffer) -> int:
        if self.fd < 0:
            return 0
        try:
            data = os.read(self.fd, len(buf))
        except BlockingIOError:
            return 0
        except OSError:  # EIO: the host closed its end
            return 0
        n = len(data)
        buf[:n] = data
        return n

    def write(self, buf: ReadableBuffer, n: int = -1) -> None:
        view = memoryview(buf)[: len(buf) if n < 0 else n]
        if not self.connected:
            self.dropped_bytes += len(view)
            return
        deadline = time.monotonic() + self.write_timeout_s
        while len(view):
            try:
                k = os.write(self.fd, view)
                view = view[k:]
            except BlockingIOError:  # the host is not reading: wait a little, then drop like a UART
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([], [self.fd], [], left)[1]:
                    self.dropped_bytes += len(view)
                    return
            except OSError:  # the host closed its end mid-write
                self.dropped_bytes += len(view)
                return

    def wait(self, timeout_ms: int) -> None:
        if self.fd >= 0:
            if self.connected:
                select.select([self.fd], [], [], timeout_ms / 1000)
            else:
                time.sleep(min(timeout_ms, 20) / 1000)  # a hung-up master is always "readable"

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class PacedLink:
    """Writes through ``link`` no faster than a UART at ``baud`` (10 bits per byte): each write returns
    when its last byte would have left the wire, and bytes leave in slices of about a millisecond, so the
    receiver sees them arrive at the paced rate. ``datagram=True`` (UDP) keeps each write whole: it is
    sent when its last byte would have left the wire. ``name`` is what :meth:`describe` calls the paced
    link (by default the link's own ``describe()``, else its class name)."""

    def __init__(self, link: ByteLink, baud: int, datagram: bool = False, name: str | None = None) -> None:
        if baud <= 0:
            raise ValueError(f"baud must be > 0, got {baud!r}")
        self.link = link
        self.baud = baud
        self.byte_s = BITS_PER_BYTE / float(baud)
        self.datagram = datagram
        self.slice = max(1, baud // BITS_PER_BYTE // 1000)  # bytes per ~1 ms
        self._free_at = 0.0  # when the line finishes sending what was written before
        self.name = name

    def describe(self) -> str:
        name = self.name
        if name is None:
            inner = getattr(self.link, "describe", None)
            name = str(inner()) if inner else type(self.link).__name__
        return f"{name}, paced at {self.baud} baud"

    @property
    def connected(self) -> bool:
        return bool(getattr(self.link, "connected", True))

    def readinto(self, buf: WritableBuffer) -> int:
        return self.link.readinto(buf)

    def write(self, buf: ReadableBuffer, n: int = -1) -> None:
        view = memoryview(buf)[: len(buf) if n < 0 else n]
        now = time.monotonic()
        # back to back with the previous write (within the oversleep of time.sleep): the line never idled
        t = self._free_at if now - self._free_at < _OVERSLEEP_S else now
        step = len(view) if self.datagram else self.slice
        for i in range(0, len(view), max(step, 1)):
            piece = view[i : i + step]
            t += len(piece) * self.byte_s  # this slice has left the wire at t
            delay = t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.link.write(piece, len(piece))
        self._free_at = t

    def wait(self, timeout_ms: int) -> None:
        wait = getattr(self.link, "wait", None)
        if wait is not None:
            wait(timeout_ms)
        else:
            time.sleep(timeout_ms / 1000)

    def close(self) -> None:
        self.link.close()
