"""The lifecycle of an instance process: its phases, the handlers each runs, the acks the launcher waits on.

Each phase at most once per process, in this order (:data:`~ether_medium.topics.LIFECYCLE`):

1. (before any phase) the user's object is constructed, its subscriptions made,
   :meth:`FabricClient.handshake`, ``Ether.ready`` (:mod:`ether_medium.fabric.instance`);
2. ``Ether.init``: ``ether_init`` handlers; ack ``Ether.done`` (``tap`` returns after every ack, so a recorder
   started first sees what init handlers publish);
3. ``Ether.start``: ``ether_start`` handlers, then the periodic publishers (``ether_pub(every=...)``,
   :mod:`ether_medium.fabric.schedule`) begin. A process restarted after a crash runs the phases the system
   has already passed (``catch_up`` in its spec) by itself right after ``Ether.ready``;
4. ``Ether.save``: the periodic publishers stop; ``ether_save`` handlers, each returned dict published on
   ``Ether.saved``; ack ``Ether.done``;
5. ``Ether.cleanup``: ``ether_cleanup`` handlers; ack ``Ether.done``;
6. ``Ether.shutdown``: any phase not run yet, then ``ether_shutdown`` handlers; ``Ether.bye``; exit.

A phase message that was missed is made up for: reaching a phase runs every earlier one not run yet. A handler
that raises is logged with its traceback and the phase goes on with the next handler.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from ether_medium import topics
from ether_medium.fabric.client import FabricClient
from ether_medium.fabric.decorators import EtherMethod
from ether_medium.fabric.schedule import Schedule
from ether_medium.topics import LIFECYCLE, Phase

__all__ = ["Lifecycle"]

log = logging.getLogger("ether")


class Lifecycle:
    """The phases of one instance: ``obj`` and ``methods`` (its decorated methods by attribute name) are
    set once the object is constructed."""

    def __init__(self, client: FabricClient, schedule: Schedule) -> None:
        self.client = client
        self.name = client.name
        self.schedule = schedule
        self.obj: Any = None
        self.methods: dict[str, EtherMethod] = {}
        self.done: set[Phase] = set()

    def advance(self, phase: Phase) -> bool:
        """Run ``phase`` and every phase before it not run yet; ``False`` once the process should exit
        (after ``shutdown``)."""
        for p in LIFECYCLE[: LIFECYCLE.index(phase) + 1]:
            self.run_phase(p)
        return phase != "shutdown"

    def run_phase(self, phase: Phase) -> None:
        """Run ``phase``'s handlers, unless it ran already."""
        if phase in self.done:
            return
        self.done.add(phase)
        if phase in ("save", "cleanup", "shutdown"):
            self.schedule.stop()  # whatever the save handlers save is final: no periodic call after them
        for attr, meta in self.methods.items():
            if phase in meta.phases:
                self._run_handler(phase, attr, meta)
        if phase == "start" and "save" not in self.done:
            started = frozenset(m for m in self.methods.values() if "start" in m.phases)
            self.schedule.start(skip_first=started)
        if phase in ("init", "save", "cleanup"):
            self.client.publish(topics.DONE, {"name": self.name, "phase": phase})

    def _run_handler(self, phase: Phase, attr: str, meta: EtherMethod) -> None:
        try:
            result = getattr(self.obj, attr)()
        except Exception:
            log.error(
                "%s: %s handler %s raised:\n%s",
                self.name,
                phase,
                meta.func.__qualname__,
                traceback.format_exc().rstrip(),
            )
            return
        if phase != "save" or result is None:
            return
        if isinstance(result, dict):
            try:
                self.client.publish(topics.SAVED, result)
            except TypeError as exc:
                log.error(
                    "%s: save handler %s returned data that cannot be published: %s",
                    self.name,
                    meta.func.__qualname__,
                    exc,
                )
        elif not meta.pub_topics:
            log.error(
                "%s: save handler %s returned %s, expected a dict (or None); nothing saved",
                self.name,
                meta.func.__qualname__,
                type(result).__name__,
            )
