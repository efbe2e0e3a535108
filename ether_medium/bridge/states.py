"""The states of one device link, as :class:`~ether_medium.bridge.manager.LinkManager` moves through them::

    closed ──open──> connected ──HELLO──> describing ──all DESCRIBEs (or 1 s)──> attached
       ^                 │                                                          │
       └──backoff── link lost / silence past the lease (UDP: back to connected, socket kept) ──┘
    a HELLO of another protocol version: incompatible (both versions logged; QUERY every few seconds)

``closed``: the link is not open (a retry is scheduled with backoff). ``connected``: open, no HELLO of the
right board yet (QUERYs go out). ``describing``: the HELLO came, DESCRIBEs are arriving. ``attached``: the
device's topics are mapped into the fabric. ``incompatible``: the device speaks another protocol version.
"""

from __future__ import annotations

__all__ = ["ATTACHED", "CLOSED", "CONNECTED", "DESCRIBING", "INCOMPATIBLE"]

CLOSED = "closed"
CONNECTED = "connected"
DESCRIBING = "describing"
ATTACHED = "attached"
INCOMPATIBLE = "incompatible"
