"""Host-side byte links to a device, chosen by URL scheme (one module per scheme, as pyserial does).

=========================================== ===============================================================
``serial:///dev/ttyACM0?baud=115200``       a serial port or pty (pyserial). A glob
                                            (``serial:///dev/serial/by-id/*``) or ``serial://auto`` scans
                                            ports and attaches the one whose device id matches.
``udp://0.0.0.0:5005``                      listen for a board on UDP; replies go to the last sender.
``cmd:python -m mydevice``                  a child command whose stdin/stdout is the link.
``sim:examples.devices.thermo:Thermometer`` a simulated board: device code run by CPython as a child.
=========================================== ===============================================================

Every link is non-blocking and has a ``fileno()``, so the bridge waits on all of its links and fabric
sockets in one ``zmq.Poller``. The contract, per method:

* :meth:`Link.open` raises :class:`~ether_medium.errors.LinkUnavailable` (retry later);
* :meth:`Link.read` returns the bytes available now (``b""`` when none; for a datagram link, one
  datagram) and raises :class:`~ether_medium.errors.LinkLost` when the link broke;
* :meth:`Link.write` writes all of ``data`` or raises :class:`LinkLost`;
* :meth:`Link.close` never raises and may be called twice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from urllib.parse import parse_qs, urlsplit

from ether_medium.errors import LinkUnavailable

__all__ = ["Link", "open_link", "parse_link"]


class Link(ABC):
    datagram = False  # True: each read() is one datagram (UDP)
    reopen_on_silence = True  # False: silence detaches the device but keeps the link (UDP)

    def __init__(self, url: str) -> None:
        self.url = url

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def fileno(self) -> int: ...

    @abstractmethod
    def read(self) -> bytes: ...

    @abstractmethod
    def write(self, data: bytes) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @property
    def is_open(self) -> bool:
        return False

    @property
    def can_send(self) -> bool:
        """False while a datagram link has no peer to send to yet."""
        return self.is_open

    @property
    def where(self) -> str:
        """Where the link is connected now (port, peer address, child pid), for log lines."""
        return self.url

    def reject_current(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """The device on the current port is not the one wanted: close it and try others first."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"


def parse_link(url: str) -> tuple[str, str, dict[str, str]]:
    """``(scheme, rest, options)``; options from a ``?key=value`` query on serial/udp URLs."""
    scheme, sep, rest = url.partition(":")
    if url.startswith("/") or (url[:3].upper() == "COM" and url[3:].isdigit()):
        raise LinkUnavailable(url, f"a port needs the serial: scheme: write serial://{url}?baud=115200")
    if not sep or not scheme:
        raise LinkUnavailable(
            url,
            "no scheme; write serial:///dev/ttyACM0?baud=115200, udp://0.0.0.0:5005, "
            "cmd:COMMAND or sim:module:Class",
        )
    scheme = scheme.lower()
    if scheme in ("serial", "udp"):
        parts = urlsplit(url)
        opts = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return scheme, (parts.netloc + parts.path), opts
    return scheme, rest, {}


def open_link(url: str, device: str | None = None, device_id: str | None = None) -> Link:
    """The link object for ``url`` (not opened yet). Raises :class:`LinkUnavailable` for a bad URL.

    ``device`` (the config's name for it) and ``device_id`` let a ``sim:`` link give the simulated board
    its identity: ``device_id``, else ``sim-<device>``.
    """
    scheme, _, _ = parse_link(url)
    if scheme == "serial":
        from ether_medium.bridge.links.serial import SerialLink

        return SerialLink(url)
    if scheme == "udp":
        from ether_medium.bridge.links.udp import UdpLink

        return UdpLink(url)
    if scheme == "cmd":
        from ether_medium.bridge.links.command import CommandLink

        return CommandLink(url)
    if scheme == "sim":
        from ether_medium.bridge.links.command import SimLink

        return SimLink(url, device_id or (f"sim-{device}" if device else None))
    raise LinkUnavailable(url, f"unknown link scheme {scheme!r}; use serial:, udp:, cmd: or sim:")
