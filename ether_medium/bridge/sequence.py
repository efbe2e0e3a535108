"""Sequence numbers of one topic's PUBs: what was lost, what came twice, what came late (PROTOCOL.md, "PUB",
"Sequence numbers").

A PUB carries a 9-bit sequence number per topic. :class:`TopicSequence` counts them across the 512 wrap
(the fabric's ``device_seq``) and judges each arrival: the next one, a jump (the PUBs in between are
missing), a duplicate (dropped), or a late one that a datagram link delivered after a later PUB (published).

On a byte stream nothing is reordered, so missing PUBs count as lost at once. On a datagram link a missing
PUB counts as lost only when it has not come within ``grace_s`` (a late one is then no loss), so the
``sequence_gaps`` counter never has to be taken back. At most :data:`PENDING` (256) missing numbers per
topic are remembered; older ones count as lost straight away.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from ether_lite import protocol

__all__ = ["Arrival", "TopicSequence"]

WRAP = protocol.SEQ_MASK + 1  # 9-bit sequence numbers
_SEQ_MASK = protocol.SEQ_MASK  # (seq - last) & _SEQ_MASK is protocol.seq_advance(last, seq)
_TICKS16 = protocol.TIME_MASK + 1  # the 16-bit device time of a PUB wraps here
PENDING = WRAP // 2  # missing numbers remembered per topic: as far back as a late PUB is recognised


class Arrival(NamedTuple):
    device_seq: int | None  # the PUB's number across wraps; None: a duplicate, to be dropped
    lost: int  # PUBs that count as lost with this arrival
    late: bool  # it came after a later one (published all the same)


@dataclass(slots=True)
class TopicSequence:
    last: int  # 9-bit seq of the newest PUB
    unwrapped: int  # its number counted across wraps
    ticks16: int  # its 16-bit device time
    pending: dict[int, float] = field(default_factory=dict)  # missing number -> when it counts as lost
    expired: set[int] = field(default_factory=set)  # counted lost; still published should they come

    @classmethod
    def first(cls, seq: int, ticks16: int) -> TopicSequence:
        """The state after the first PUB of a topic in this boot (it starts the count: nothing is lost)."""
        return cls(seq, seq, ticks16)

    def follows(self, seq: int, ticks16: int) -> int:
        """The usual arrival in one step: when ``seq`` is the one after the newest and no number is missing,
        its number across wraps, the state moved on (what :meth:`accept` does then); otherwise -1, and
        nothing changed (call :meth:`accept`)."""
        if self.pending or (seq - self.last) & _SEQ_MASK != 1:
            return -1
        self.last, self.ticks16 = seq, ticks16
        self.unwrapped += 1
        return self.unwrapped

    def accept(self, seq: int, ticks16: int, now: float = 0.0, grace_s: float = 0.0) -> Arrival:
        adv = protocol.seq_advance(self.last, seq)
        if adv == 1:  # the usual case: the next one
            self.last, self.unwrapped, self.ticks16 = seq, self.unwrapped + 1, ticks16
            return Arrival(self.unwrapped, self.expire(now) if self.pending else 0, False)
        if adv == 0:
            return Arrival(None, 0, False)
        # A big "advance" is a PUB arriving late, not hundreds lost, when its number is one we miss, or when
        # its device time is not after the newest PUB's (then it came already: a duplicate).
        if adv > WRAP // 2:
            n = self.unwrapped - (WRAP - adv)
            if self.pending.pop(n, None) is not None:
                return Arrival(n, 0, True)
            if n in self.expired:  # later than its grace: counted lost already, published all the same
                self.expired.discard(n)
                return Arrival(n, 0, True)
            if ticks16 == self.ticks16 or protocol.ticks_diff(ticks16, self.ticks16, _TICKS16) < 0:
                return Arrival(None, 0, True)
        n = self.unwrapped + adv
        lost = 0
        if grace_s <= 0:
            lost = adv - 1
        else:
            for k in range(max(self.unwrapped + 1, n - PENDING), n):
                self.pending[k] = now + grace_s
            lost = max(0, adv - 1 - PENDING)  # beyond what is remembered
            if len(self.pending) > PENDING:
                for k in sorted(self.pending)[: len(self.pending) - PENDING]:
                    del self.pending[k]
                    lost += 1
        self.last, self.unwrapped, self.ticks16 = seq, n, ticks16
        return Arrival(n, lost + (self.expire(now) if self.pending else 0), False)

    def expire(self, now: float) -> int:
        """Missing PUBs whose grace is over: forgotten, and returned as the number lost."""
        gone = [k for k, t in self.pending.items() if t <= now]
        for k in gone:
            del self.pending[k]
        if gone:
            self.expired.update(gone)
            if len(self.expired) > PENDING:
                self.expired = set(sorted(self.expired)[-PENDING:])
        return len(gone)

    def next_deadline(self) -> float:
        return min(self.pending.values(), default=float("inf"))
