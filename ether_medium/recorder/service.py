"""The recorder as a service process: the launcher calls :func:`main` in the process it starts for it.

``ctx`` is whatever the launcher hands its service processes; this reads ``addresses``
(:class:`~ether_medium.fabric.broker.BrokerAddresses`), ``session_id``, ``config``
(:class:`~ether_medium.config.EtherConfig`), ``wait_for`` (names of the processes whose ``Ether.bye`` ends the
drain) and, when present, ``ready()`` (called once the recorder's subscription is live) and ``stop`` or
``stop_event`` (an event that begins the drain, e.g. set on SIGTERM). The process lowers its CPU priority by
``recording.nice``.
"""

from __future__ import annotations

import os
from typing import Any

from ether_medium.recorder.recorder import run_recorder

__all__ = ["main"]


def main(ctx: Any) -> int:
    """Record one session; the exit status is 0 for a normal end, 1 for an error, 2 when interrupted."""
    rec = ctx.config.recording
    if rec is not None and rec.nice:
        os.nice(rec.nice)  # this process is the recorder's own: it yields the CPU to the fabric
    summary = run_recorder(
        ctx.addresses,
        ctx.session_id,
        ctx.config,
        list(ctx.wait_for),
        ready=getattr(ctx, "ready", None),
        stop_event=getattr(ctx, "stop_event", None) or getattr(ctx, "stop", None),
    )
    return {"normal": 0, "error": 1}.get(summary.status, 2)
