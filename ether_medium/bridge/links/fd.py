"""A non-blocking file descriptor as a link's byte stream (a serial port or pty, a child's stdin/stdout):
read what is there now, write everything within a deadline. Each link turns the errors into its own
:class:`~ether_medium.errors.LinkLost` wording."""

from __future__ import annotations

import errno
import os
import select
import time

__all__ = ["read_available", "write_all"]


def read_available(fd: int) -> bytes:
    """The bytes ``fd`` has now (``b""`` when none). Raises ``EOFError`` at end of file, ``OSError`` when
    reading fails."""
    try:
        data = os.read(fd, 65536)
    except BlockingIOError:
        return b""
    if not data:
        raise EOFError
    return data


def write_all(fd: int, data: bytes, timeout_s: float) -> None:
    """Write all of ``data`` to ``fd``, waiting while it is full. Raises ``TimeoutError`` when it took
    nothing for ``timeout_s``, ``OSError`` when writing fails."""
    view = memoryview(data)
    deadline = time.monotonic() + timeout_s
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            n = 0
        except InterruptedError:
            continue
        view = view[n:]
        if view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(errno.ETIMEDOUT, f"took nothing for {timeout_s} s")
            select.select([], [fd], [], left)
