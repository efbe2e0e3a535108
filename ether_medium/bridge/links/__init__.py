"""Host-side byte links to a device, chosen by URL scheme (one module per scheme, as pyserial does).

=========================================== ===============================================================
``serial:///dev/ttyACM0?baud=115200``       a serial port or pty (pyserial). A glob
                                            (``serial:///dev/serial/by-id/*``) or ``serial://auto`` scans
                                            ports and attaches the one whose device id matches.
``udp://0.0.0.0:5005``                      listen for a board on UDP (``udp://:5005``: loopback only).
``cmd:python -m mydevice``                  a child command whose stdin/stdout is the link.
``sim:examples.devices.thermo:Thermometer`` a simulated board: device code run by CPython as a child.
=========================================== ===============================================================

**Schemes.** A scheme is a name and a factory ``create(url, context) -> Link`` that checks the URL and
returns the link, not opened yet. The schemes above are the modules ``serial``, ``udp``, ``cmd`` and ``sim``
of this package. Another package adds one without touching this one, through the entry-point group
``ether_medium.links`` (``[project.entry-points."ether_medium.links"] can = "mypkg.canlink:create"``), or
in-process with :func:`register_scheme`. :func:`open_link` looks the scheme up by name.

**The contract**, per method (every link passes :func:`ether_medium.bridge.links.testing.check_link`):

* the factory raises :class:`~ether_medium.errors.LinkURLError` (a ``ValueError``) for a URL that is
  not well-formed: a configuration error, which retrying cannot fix;
* :meth:`Link.open` raises :class:`~ether_medium.errors.LinkUnavailable` (retry later); opening an
  open link first closes it;
* :meth:`Link.fileno` is a descriptor the bridge polls for reading (``zmq.Poller`` takes it) while open;
* :meth:`Link.read` never blocks: the bytes available now (``b""`` when none; for a datagram link, one
  datagram) and raises :class:`~ether_medium.errors.LinkLost` when the link broke (or is not open);
* :meth:`Link.write` writes all of ``data`` or raises :class:`LinkLost`;
* :meth:`Link.close` never raises and may be called twice.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from urllib.parse import parse_qs, urlsplit

from ether_medium.errors import LinkURLError

__all__ = [
    "ENTRY_POINT_GROUP",
    "Link",
    "LinkContext",
    "exposure_problem",
    "open_link",
    "parse_link",
    "register_scheme",
    "schemes",
]

ENTRY_POINT_GROUP = "ether_medium.links"
_BUILTIN = {name: f"ether_medium.bridge.links.{name}:create" for name in ("serial", "udp", "cmd", "sim")}


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

    @property
    def exposed(self) -> bool:
        """True when anyone on a network may send to this link (a UDP link bound beyond loopback): the
        device's ``device_id`` must then be configured (:func:`exposure_problem`)."""
        return False

    @property
    def stranger(self) -> bool:
        """True when the last read came from another address than the peer kept by :meth:`keep_peer`
        (a datagram link, where anyone may send; a stream link has one peer)."""
        return False

    @property
    def source(self) -> str:
        """Where the last read came from, for log lines (a datagram link: the sender's address)."""
        return self.where

    def keep_peer(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """The last sender said HELLO and was taken: until :meth:`free_peer`, only it is heard and replied
        to (a datagram link)."""

    def free_peer(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """The kept peer went silent (or the link reopened): the next sender may say HELLO."""

    def reject_current(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """The device on the current port is not the one wanted: close it and try others first."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"


@dataclass(frozen=True, slots=True)
class LinkContext:
    """What a factory may use besides the URL: the config's name for the device and its device id (a
    ``sim:`` link gives the simulated board that identity)."""

    device: str | None = None
    device_id: str | None = None


LinkFactory = Callable[[str, LinkContext], Link]
_registered: dict[str, LinkFactory] = {}


def register_scheme(name: str, factory: LinkFactory) -> None:
    """Make ``name:`` URLs open with ``factory`` in this process (an installed package uses the entry-point
    group instead). A built-in scheme cannot be replaced."""
    name = name.lower()
    if name in _BUILTIN:
        raise ValueError(f"link scheme {name!r} is built in; choose another name")
    _registered[name] = factory


def schemes() -> list[str]:
    """Every scheme known here: built in, registered, and installed through the entry-point group."""
    return sorted(
        set(_BUILTIN) | set(_registered) | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    )


def _factory(scheme: str, url: str) -> LinkFactory:
    spec = _BUILTIN.get(scheme)
    if spec is None:
        found = _registered.get(scheme)
        if found is not None:
            return found
        eps = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == scheme]
        if not eps:
            raise LinkURLError(url, f"unknown link scheme {scheme!r}; known: {', '.join(schemes())}")
        try:
            loaded = eps[0].load()
        except Exception as exc:  # a broken third-party package: say which, and why
            raise LinkURLError(
                url, f"the link scheme {scheme!r} ({eps[0].value}) cannot be loaded: {exc}"
            ) from exc
        if not callable(loaded):
            raise LinkURLError(url, f"the link scheme {scheme!r} ({eps[0].value}) is not a factory")
        factory: LinkFactory = loaded
        return factory
    module, _, name = spec.partition(":")
    builtin: LinkFactory = getattr(importlib.import_module(module), name)
    return builtin


def parse_link(url: str) -> tuple[str, str, dict[str, str]]:
    """``(scheme, rest, options)``; options from a ``?key=value`` query on serial/udp URLs. Raises
    :class:`LinkURLError` for a URL without a scheme."""
    scheme, sep, rest = url.partition(":")
    if url.startswith("/") or (url[:3].upper() == "COM" and url[3:].isdigit()):
        raise LinkURLError(url, f"a port needs the serial: scheme: write serial://{url}?baud=115200")
    if not sep or not scheme or not scheme.replace("-", "").replace("+", "").replace(".", "").isalnum():
        raise LinkURLError(
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


def exposure_problem(link: Link, device_id: str | None) -> str | None:
    """Why ``link`` cannot be used without a configured device id (it is :attr:`Link.exposed`), or None."""
    if not link.exposed or device_id is not None:
        return None
    return (
        f"{link.url} listens where anyone on the network may send (beyond loopback): set the board's "
        f"device_id in the device's config (ether bridge: --id), or listen on loopback only"
    )


def open_link(url: str, device: str | None = None, device_id: str | None = None) -> Link:
    """The link object for ``url`` (not opened yet); :class:`LinkURLError` for a malformed URL.

    ``device`` (the config's name for it) and ``device_id`` let a ``sim:`` link give the simulated board
    its identity: ``device_id``, else ``sim-<device>``.
    """
    scheme, _, _ = parse_link(url)
    return _factory(scheme, url)(url, LinkContext(device, device_id))
