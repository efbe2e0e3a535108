"""Sequence numbers of one topic's PUBs: what was lost, what came twice, what came late (PROTOCOL.md, "PUB",
"Sequence numbers").

A PUB carries a 9-bit sequence number per topic. :class:`TopicSequence` counts them across the 512 wrap
(the fabric's ``device_seq``) and judges each arrival: the next one, a jump (the PUBs in between were lost on
the link), a duplicate (dropped), or a late one that a datagram link delivered after a later PUB (published;
it is no longer missing). Late and forward jumps are told apart by the PUB's 16-bit device time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from ether_lite import protocol

__all__ = ["Arrival", "TopicSequence"]

RECENT = 512  # how far back (in PUBs of one topic) a late or duplicate PUB is recognised


class Arrival(NamedTuple):
    device_seq: int | None  # the PUB's number across wraps; None: a duplicate, to be dropped
    lost: int  # PUBs found missing with this one (-1: this one had been counted missing and came late)
    late: bool


@dataclass(slots=True)
class TopicSequence:
    last: int  # 9-bit seq of the newest PUB
    unwrapped: int  # its number counted across wraps
    ticks16: int  # its 16-bit device time
    missing: set[int] = field(default_factory=set)  # numbers skipped (counted lost), the newest RECENT

    @classmethod
    def first(cls, seq: int, ticks16: int) -> TopicSequence:
        """The state after the first PUB of a topic in this boot (it starts the count: nothing is lost)."""
        return cls(seq, seq, ticks16)

    def accept(self, seq: int, ticks16: int) -> Arrival:
        adv = protocol.seq_advance(self.last, seq)
        if adv == 1:  # the usual case: the next one
            self.last, self.unwrapped, self.ticks16 = seq, self.unwrapped + 1, ticks16
            return Arrival(self.unwrapped, 0, False)
        if adv == 0:
            return Arrival(None, 0, False)
        # A big "advance" is a PUB arriving late (a datagram link reorders), not hundreds lost, when its
        # number is one we miss, or when its device time is not after the newest PUB's (then it came already).
        if adv > RECENT // 2:
            n = self.unwrapped - (RECENT - adv)
            if n in self.missing:
                self.missing.discard(n)
                return Arrival(n, -1, True)
            if ((ticks16 - self.ticks16) & 0xFFFF) >= 0x8000 or ticks16 == self.ticks16:
                return Arrival(None, 0, True)  # a late duplicate
        n = self.unwrapped + adv
        self.missing.update(range(max(self.unwrapped + 1, n - RECENT), n))
        if len(self.missing) > RECENT:
            floor = n - RECENT
            self.missing = {x for x in self.missing if x > floor}
        self.last, self.unwrapped, self.ticks16 = seq, n, ticks16
        return Arrival(n, adv - 1, False)
