"""What the fault injector does to the traffic: rates, and seeded decisions per byte or per datagram.

Decisions depend only on the seed and on the position in the stream (the n-th byte or datagram of one
direction), never on timing or on how the bytes arrived in chunks, so a failing run replays exactly.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class FaultRates:
    """Probabilities per byte (byte streams) or per datagram (UDP) of each fault.

    ``delay`` holds the stream (or one datagram) back for a random time up to ``delay_s``.
    """

    corrupt: float = 0.0
    drop: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    delay_s: float = 0.01

    def __post_init__(self) -> None:
        for name in ("corrupt", "drop", "duplicate", "delay"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault rate {name}={value!r} must be between 0 and 1")
        if self.total > 1.0:
            raise ValueError(
                f"fault rates add up to {self.total:g} (> 1): corrupt+drop+duplicate+delay must be at most 1"
            )
        if self.delay_s < 0:
            raise ValueError(f"delay_s={self.delay_s!r} must be >= 0 seconds")

    @property
    def total(self) -> float:
        return self.corrupt + self.drop + self.duplicate + self.delay


NO_FAULTS = FaultRates()


@dataclass
class ByteCounts:
    """What a mangler did, in bytes (byte streams) or datagrams (UDP)."""

    seen: int = 0
    corrupted: int = 0
    dropped: int = 0
    duplicated: int = 0
    delayed: int = 0  # delay events (each holds the rest of the stream or one datagram back)
    damaged_frames: int = 0  # datagrams: frames a receiver sees in the corrupted ones (split at each 0x00)


class _Dice:
    """Seeded draws: the gap to the next fault and which fault it is."""

    def __init__(self, seed: object, direction: str) -> None:
        self.rng = random.Random(f"{seed}:{direction}")

    def gap(self, p: float) -> int:
        """Unaffected units before the next fault (geometric), or a huge number when p is 0."""
        if p <= 0.0:
            return 1 << 62
        if p >= 1.0:
            return 0
        u = self.rng.random()
        return int(math.log1p(-u) / math.log1p(-p))

    def kind(self, rates: FaultRates) -> str:
        x = self.rng.random() * rates.total
        for name in ("corrupt", "drop", "duplicate"):
            x -= getattr(rates, name)
            if x < 0:
                return name
        return "delay"

    def mask(self) -> int:
        return self.rng.randrange(1, 256)

    def delay(self, rates: FaultRates) -> float:
        return self.rng.random() * rates.delay_s


class ByteMangler:
    """Damages a byte stream: ``mangle(chunk)`` returns pieces ``(delay_s, bytes)`` in stream order."""

    def __init__(self, rates: FaultRates, seed: object, direction: str) -> None:
        self.counts = ByteCounts()
        self._dice = _Dice(seed, direction)
        self.rates = rates
        self._gap = self._dice.gap(rates.total)

    def set_rates(self, rates: FaultRates) -> None:
        self.rates = rates
        self._gap = self._dice.gap(rates.total)

    def mangle(self, data: bytes) -> list[tuple[float, bytes]]:
        pieces: list[tuple[float, bytes]] = []
        out = bytearray()
        delay = 0.0
        i, n = 0, len(data)
        self.counts.seen += n
        while i < n:
            if self._gap >= n - i:
                self._gap -= n - i
                out += data[i:]
                break
            out += data[i : i + self._gap]
            i += self._gap
            kind = self._dice.kind(self.rates)
            byte = data[i]
            if kind == "corrupt":
                out.append(byte ^ self._dice.mask())
                self.counts.corrupted += 1
            elif kind == "drop":
                self.counts.dropped += 1
            elif kind == "duplicate":
                out.append(byte)
                out.append(byte)
                self.counts.duplicated += 1
            else:
                if out:
                    pieces.append((delay, bytes(out)))
                    out = bytearray()
                delay = self._dice.delay(self.rates)
                out.append(byte)
                self.counts.delayed += 1
            i += 1
            self._gap = self._dice.gap(self.rates.total)
        if out:
            pieces.append((delay, bytes(out)))
        return pieces


class DatagramMangler:
    """Damages datagrams whole: ``mangle(d)`` returns the copies to send as ``(delay_s, bytes)``."""

    def __init__(self, rates: FaultRates, seed: object, direction: str) -> None:
        self.counts = ByteCounts()
        self._dice = _Dice(seed, direction)
        self.rates = rates

    def set_rates(self, rates: FaultRates) -> None:
        self.rates = rates

    def mangle(self, datagram: bytes) -> list[tuple[float, bytes]]:
        self.counts.seen += 1
        rates = self.rates
        if rates.total <= 0 or self._dice.rng.random() >= rates.total:
            return [(0.0, datagram)]
        kind = self._dice.kind(rates)
        if kind == "drop":
            self.counts.dropped += 1
            return []
        if kind == "duplicate":
            self.counts.duplicated += 1
            return [(0.0, datagram), (0.0, datagram)]
        if kind == "delay":
            self.counts.delayed += 1
            return [(self._dice.delay(rates), datagram)]
        self.counts.corrupted += 1
        if not datagram:
            return [(0.0, datagram)]
        damaged = bytearray(datagram)
        at = self._dice.rng.randrange(len(damaged))
        damaged[at] ^= self._dice.mask()
        # a receiver decodes a datagram like a stream: a byte turned into 0x00 splits it in two bad frames,
        # a damaged final 0x00 leaves one unterminated frame; every non-empty piece is one rejected frame
        self.counts.damaged_frames += sum(1 for piece in bytes(damaged).split(b"\0") if piece)
        return [(0.0, bytes(damaged))]
