"""Ingest: a device's PUBs become readings (data checked against the DESCRIBE, device time, sequence).

The hot path of the bridge: :meth:`Ingest.pub` runs once per reading. It splits the PUB's reference word
with ``ether_lite.protocol.unpack_ref``, tracks each topic's sequence numbers
(:mod:`ether_medium.bridge.sequence`: a jump counts the PUBs between as lost, a repeat is dropped, a late
one on a datagram link is published), checks the values against the endpoint's fields, maps the device time
to host time (:mod:`ether_medium.bridge.clock`) and hands the reading to the sink. A PUB on a topic not known
to publish goes back to the link manager, which decides whether to ask the device to describe it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ether_lite.protocol import unpack_ref
from ether_medium.bridge.endpoints import Endpoint
from ether_medium.bridge.sequence import TopicSequence

if TYPE_CHECKING:
    from ether_medium.bridge.manager import LinkManager

__all__ = ["Ingest", "Reading"]


@dataclass(slots=True)
class Reading:
    """When and in which order one PUB happened (for the fabric envelope)."""

    host_time: float  # time.time() when it was received
    device_time: float | None  # device time mapped to time.time(); None before the first PONG
    uncertainty: float | None  # seconds
    device_seq: int  # the device's sequence number for this topic, unwrapped from 9 bits


class Ingest:
    """The PUBs of the link of ``owner``, whose sink gets the readings. A PUB on a topic not known to publish
    (not attached yet, not described, a subscriber, or fields not described yet) is dropped, counted, and
    handed back to the owner's ``_unknown_pub``."""

    def __init__(self, owner: LinkManager) -> None:
        self.owner = owner
        self.sink = owner.sink
        self.counters = owner.counters
        self.problems = owner.problems
        self.clock = owner.clock
        self.unknown = owner._unknown_pub
        self.pubs: dict[int, Endpoint] = {}  # publishing endpoints with known fields, while attached
        self.seq: dict[int, TopicSequence] = {}
        # a datagram link reorders: a missing PUB counts as lost only when it has not come within this
        self.grace_s = 1.0 if owner.link.datagram else 0.0
        self.gap_check_at = float("inf")
        self._wall_at = -1.0  # the monotonic receive time ``_wall`` (time.time()) was taken at
        self._wall = 0.0

    def publish_to(self, endpoints: dict[int, Endpoint]) -> None:
        """Accept PUBs on the publishers among ``endpoints`` (all of them while attached; none: ``{}``)."""
        self.pubs = {t: e for t, e in endpoints.items() if e.publishes and e.fields is not None}

    def new_boot(self) -> None:
        """The device reset: every topic's sequence starts again with its first PUB."""
        self.seq.clear()
        self.gap_check_at = float("inf")

    def pub(self, msg: list[Any], now: float) -> None:
        """One PUB ``[h, ref, v1, ...]`` (its shape checked by the caller)."""
        tid, seq, t16 = unpack_ref(msg[1])
        ep = self.pubs.get(tid)
        if ep is None:
            self._reject(tid, now)
            return
        st = self.seq.get(tid)
        device_seq = -1 if st is None else st.follows(seq, t16)  # the usual: the next one
        if device_seq < 0:
            device_seq = self._sequence(tid, ep, st, seq, t16, now)
            if device_seq < 0:
                return
        values = msg[2:]
        if len(values) != len(ep.field_names):
            self.counters.rejected += 1
            self.problems.report(
                f"pub-count {tid}",
                f"PUB on {ep.topic} has {len(values)} value(s) {values!r}; the "
                f"DESCRIBE says {ep.signature()}",
            )
            return
        try:
            data = ep.data_of(values)
        except ValueError as exc:
            self.counters.rejected += 1
            self.problems.report(f"pub-type {tid}", f"PUB on {ep.topic} rejected: {exc} ({ep.signature()})")
            return
        clock = self.clock
        m = clock.map_ticks16(t16, now)
        if clock.suspect:
            self.owner.conn.ping_soon(now)  # its PONG re-synchronises (clock.py: jumps)
        if now != self._wall_at:  # every frame of one read from the link was received at once
            self._wall_at, self._wall = now, time.time()
        wall = self._wall
        if m.synced:
            reading = Reading(wall, wall - (now - m.host_time), m.uncertainty, device_seq)
        else:
            reading = Reading(wall, None, None, device_seq)
        self.counters.published += 1
        self.sink.publish(self.owner, ep, data, reading)

    def _sequence(
        self, tid: int, ep: Endpoint, st: TopicSequence | None, seq: int, t16: int, now: float
    ) -> int:
        """The number across wraps of a PUB that is not simply the next one (the first of its topic, after
        a gap, a duplicate, a late one): gaps counted, a duplicate dropped (-1)."""
        if st is None:
            self.seq[tid] = TopicSequence.first(seq, t16)
            return seq
        arrival = st.accept(seq, t16, now, self.grace_s)
        if st.pending:
            self.gap_check_at = min(self.gap_check_at, st.next_deadline())
        if arrival.device_seq is None:
            self.counters.duplicates += 1
            self.problems.report(
                f"dup {tid}", f"duplicate PUB on {ep.topic} (seq {seq}) dropped", logging.INFO
            )
            return -1
        if arrival.late:
            self.counters.reordered += 1
            self.problems.report(
                f"late {tid}",
                f"PUB on {ep.topic} arrived after a later one (seq {seq} after {st.last}); published",
                logging.INFO,
            )
        if arrival.lost:
            self._count_lost(ep, arrival.lost, f"before seq {seq}")
        return arrival.device_seq

    def _reject(self, tid: int, now: float) -> None:
        self.counters.rejected += 1
        ep = self.owner.endpoints.get(tid)
        if not self.owner.attached:
            why = f"PUB on topic id {tid} before the device described itself ({self.owner.state}): dropped"
        elif ep is None:
            why = (
                f"PUB on topic id {tid}, which the device has not described: dropped; asking for its DESCRIBE"
            )
        elif not ep.publishes:
            why = f"PUB on topic id {tid} ({ep.topic}), which the device described as a subscriber: dropped"
        else:
            why = (
                f"PUB on {ep.topic} before the device described its fields: dropped; asking for its DESCRIBE"
            )
        self.problems.report(f"reject {tid}", why)
        self.unknown(tid, now)

    def expire_gaps(self, now: float) -> None:
        """On a datagram link, missing PUBs whose grace is over count as lost now."""
        self.gap_check_at = float("inf")
        for tid, st in self.seq.items():
            if st.pending:
                lost = st.expire(now)
                ep = self.owner.endpoints.get(tid)
                if lost and ep is not None:
                    self._count_lost(ep, lost, f"not arrived within {self.grace_s:g} s")
                self.gap_check_at = min(self.gap_check_at, st.next_deadline())

    def _count_lost(self, ep: Endpoint, n: int, where: str) -> None:
        self.counters.sequence_gaps += n
        self.problems.report(f"gap {ep.topic_id}", f"{n} PUB(s) on {ep.topic} lost on the link ({where})")
