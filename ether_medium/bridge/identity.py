"""Which board is on the link, and which boot of it: HELLOs checked against the board wanted.

Boards are told apart by the ``device_id`` of their HELLO, never by the port (PROTOCOL.md, HELLO): a link
attaches the board its config names (``devices.NAME.device_id``) or, without one, the first board it
attaches, and refuses any other (a pty path or USB port reused by another board). A HELLO with a new
``boot_id`` means the board reset: what was learnt of the old boot (topics, sequences, time offset) is void.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ether_lite import protocol
from ether_medium.bridge.counters import LinkCounters

__all__ = ["DeviceInfo", "Identity"]


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What a HELLO said."""

    device_id: str
    boot_id: int
    firmware: str
    protocol: int
    ticks_period: int
    n_endpoints: int


class Identity:
    """The board of one link. ``want_id``: the configured device id (None: the first board that attaches)."""

    def __init__(self, name: str, want_id: str | None, counters: LinkCounters, log: logging.Logger) -> None:
        self.name = name
        self.want_id = want_id
        self.counters = counters
        self.log = log
        self.info: DeviceInfo | None = None
        self._locked_id: str | None = None  # the board attached first, when no device_id is configured

    @staticmethod
    def invalid(msg: list[Any]) -> str | None:
        """Why a (well-formed) HELLO cannot be taken, or None."""
        n, period = msg[4], msg[5]
        if n > protocol.MAX_ENDPOINTS or period < 2 or period & (period - 1):
            return (
                f"HELLO with {n} endpoints (max {protocol.MAX_ENDPOINTS}) or a "
                f"ticks_period {period} that is not a power of two"
            )
        return None

    def wrong_id(self, device_id: str) -> bool:
        """True when ``device_id`` is not the board this link attaches (nothing said)."""
        want = self.want_id or self._locked_id
        return want is not None and device_id != want

    def wrong(self, device_id: str, where: str, scanning: bool) -> bool:
        """True (and said why) when ``device_id`` is not the board this link attaches."""
        want = self.want_id or self._locked_id
        if want is None or device_id == want:
            return False
        if self.want_id:
            source, fix = f"devices.{self.name}.device_id", "fix the config or plug in the right board"
        else:
            source = f"the board {self.name} first attached"
            fix = f"set devices.{self.name}.device_id to attach another board"
        self.log.error(
            "%s: the board on %s has device id %r, not %r (%s); %s",
            self.name,
            where,
            device_id,
            want,
            source,
            "trying other ports" if scanning else fix,
        )
        return True

    def accept(self, msg: list[Any]) -> bool:
        """Take the HELLO of the right board; True when it is a first HELLO or another boot (a reset)."""
        _, device_id, boot_id, firmware, n_endpoints, ticks_period = msg
        old = self.info
        if old is not None and old.boot_id != boot_id:
            self.counters.resets += 1
            self.log.warning(
                "%s: device %r reset (boot id %d -> %d); re-learning its topics",
                self.name,
                device_id,
                old.boot_id,
                boot_id,
            )
            old = None
        self.info = DeviceInfo(device_id, boot_id, firmware, protocol.VERSION, ticks_period, n_endpoints)
        # from now on this link attaches only this board (and scanning skips other ports' boards)
        self._locked_id = device_id
        return old is None
