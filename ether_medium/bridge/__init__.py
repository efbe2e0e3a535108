"""The device bridge: boards appear in the fabric as decorated classes, and stay attached.

One bridge process per entry of a config's ``devices:`` section (:mod:`ether_medium.bridge.service`) runs
one :class:`LinkManager` (:mod:`ether_medium.bridge.manager`) over one link
(:mod:`ether_medium.bridge.links`: serial port or pty, UDP, a child command, a simulated board). The wire
format is ether_lite's (PROTOCOL.md; :mod:`ether_lite.framing`, :mod:`ether_lite.protocol`, CBOR by
``cbor2``); this package never reimplements it.

=============================== ===========================================================================
module                          what it holds
=============================== ===========================================================================
``links``                       host-side byte links, one module per URL scheme (an entry-point group)
``manager``                     the per-device coordinator: timers and transitions, over the next seven
``states``                      the states of a device link and their transitions
``connection``                  opening a link with backoff, the lease, PINGs
``inbound``                     bytes to checked messages, dispatched; bad input counted and reported
``handshake``                   what a HELLO and the DESCRIBEs do to the link: describing, attached
``identity``                    which board (device id) and which boot of it a HELLO announces
``attach``                      HELLO/DESCRIBE: QUERYs for exactly what is missing, until all arrived
``ingest``                      PUB to reading: values checked, device time, sequence gaps
``endpoints``                   DESCRIBEs checked and turned into fabric topics with pydantic models
``sequence``                    per-topic sequence numbers: gaps, duplicates, late arrivals
``delivery``                    DELIVER until ACK: msg_ids, retransmission, outcome reported once
``device_reports``              the device's LOG lines (rate-limited) and ERROR frames
``clock``                       device ticks -> host time (min-RTT window, drift, uncertainty)
``counters``                    per-link counters (rate-limited log lines: ``ether_medium.problems``)
``loop``                        one poll loop over links and fabric sockets
``service``                     the bridge process (launcher's service target)
``proxy``                       ``ether.device(name)``: a board as an object in host code
=============================== ===========================================================================

Its errors are in :mod:`ether_medium.errors` (``BridgeError`` and below). Names are imported lazily, so
importing this package (the config does, to check ``link:`` URLs) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ClockSync",
    "DeviceProxy",
    "LinkCounters",
    "LinkManager",
    "device",
    "open_link",
]

_WHERE = {
    "ClockSync": "clock",
    "LinkCounters": "counters",
    "LinkManager": "manager",
    "open_link": "links",
    "DeviceProxy": "proxy",
    "device": "proxy",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'ether_medium.bridge' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ether_medium.bridge.{module}"), name)
