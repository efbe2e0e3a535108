"""Serial ports and ptys through pyserial: ``serial:///dev/ttyACM0?baud=115200``.

The path may be a glob (``serial:///dev/serial/by-id/usb-*``) or ``serial://auto`` (every USB serial port
pyserial lists). Then :meth:`SerialLink.open` tries the candidates in turn; the link manager checks the
device id in the HELLO and calls :meth:`SerialLink.reject_current` when it is not the configured one, so a
board is found again when it comes back on another port. Ports are opened exclusively (``TIOCEXCL`` plus
``flock``), so two bridges never share one.

Reads and writes go straight to the file descriptor (pyserial opens it non-blocking): pyserial's own
``read`` waits for its timeout on a partial chunk, which costs latency here.
"""

from __future__ import annotations

import contextlib
import glob
import os
import select
import time

import serial
import serial.tools.list_ports

from ether_medium.bridge.links import Link, LinkContext, parse_link
from ether_medium.bridge.links.fd import read_available, write_all
from ether_medium.errors import LinkLost, LinkUnavailable, LinkURLError

__all__ = ["SerialLink", "create"]

_REJECT_S = 10.0  # a port with the wrong device is tried again only after this long
_WRITE_TIMEOUT_S = 1.0


def create(url: str, context: LinkContext) -> SerialLink:
    """The ``serial:`` scheme."""
    return SerialLink(url)


class SerialLink(Link):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        _, path, opts = parse_link(url)
        self.pattern = path or "auto"
        try:
            self.baud = int(opts.pop("baud", "115200"))
        except ValueError as exc:
            raise LinkURLError(url, "baud must be an integer, e.g. ?baud=115200") from exc
        if self.baud <= 0:
            raise LinkURLError(url, "baud must be a positive integer, e.g. ?baud=115200")
        if opts:
            raise LinkURLError(url, f"unknown option(s) {sorted(opts)}; the only option is baud")
        self._port: serial.Serial | None = None
        self._fd = -1
        self._path = ""
        self._rejected: dict[str, float] = {}

    # -- discovery ------------------------------------------------------------------------------
    def candidates(self) -> list[str]:
        if self.pattern == "auto":
            return sorted(p.device for p in serial.tools.list_ports.comports() if p.vid is not None)
        if any(c in self.pattern for c in "*?["):
            return sorted(glob.glob(self.pattern))
        return [self.pattern]

    def open(self) -> None:
        self.close()
        now = time.monotonic()
        found = self.candidates()
        if not found:
            raise LinkUnavailable(self.url, f"no port matches {self.pattern} (is the board plugged in?)")
        fresh = [p for p in found if self._rejected.get(os.path.realpath(p), 0.0) <= now]
        reasons = []
        for path in fresh or found:
            try:
                port = serial.Serial(
                    path, self.baud, timeout=0, write_timeout=_WRITE_TIMEOUT_S, exclusive=True
                )
            except (serial.SerialException, OSError, ValueError) as exc:
                reasons.append(f"{path}: {exc}")
                continue
            self._port = port
            self._fd = port.fileno()
            self._path = path
            return
        raise LinkUnavailable(self.url, "; ".join(reasons) or "no port could be opened")

    def reject_current(self) -> None:
        if self._path:
            self._rejected[os.path.realpath(self._path)] = time.monotonic() + _REJECT_S
        self.close()

    # -- I/O --------------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._port is not None

    @property
    def where(self) -> str:
        if not self._path:
            return self.pattern
        real = os.path.realpath(self._path)
        return self._path if real == self._path else f"{self._path} ({real})"

    def fileno(self) -> int:
        return self._fd

    def read(self) -> bytes:
        if self._port is None:
            raise LinkLost(self.url, "not open")
        try:
            return read_available(self._fd)
        except EOFError:
            # The port is read with VMIN=0: 0 bytes both when none are there and when it is gone; only
            # a descriptor that polls readable (or hung up) and reads 0 bytes is gone.
            p = select.poll()
            p.register(self._fd, select.POLLIN)
            if not p.poll(0):
                return b""
            raise LinkLost(self.url, f"{self._path}: end of file (unplugged or closed)") from None
        except OSError as exc:
            raise LinkLost(
                self.url, f"{self._path}: {os.strerror(exc.errno or 0)} (unplugged or closed)"
            ) from exc

    def write(self, data: bytes) -> None:
        if self._port is None:
            raise LinkLost(self.url, "not open")
        try:
            write_all(self._fd, data, _WRITE_TIMEOUT_S)
        except TimeoutError as exc:
            raise LinkLost(self.url, f"{self._path}: write stalled for {_WRITE_TIMEOUT_S} s") from exc
        except OSError as exc:
            raise LinkLost(self.url, f"{self._path}: {os.strerror(exc.errno or 0)}") from exc

    def close(self) -> None:
        port, self._port = self._port, None
        self._fd = -1
        if port is not None:
            with contextlib.suppress(OSError, serial.SerialException):
                port.close()
