"""Per-frame accounting of one direction of a byte stream, by watching the ``0x00`` frame delimiters.

The injector sees what went in and what came out. An output frame (the bytes between two delimiters it
emitted) is *intact* when it is byte-identical to the next input frames it has not yet accounted for; input
frames skipped over on the way, or never delivered intact, are *lost*; a non-empty output frame that matches
no input frame is *damaged*. A receiver that checks CRCs must reject exactly the damaged frames and must
miss exactly the lost ones, which is what the fault-injection tests compare with the bridge's counters.

A damaged frame may pass the CRC check all the same: by chance (2**-16), and far more often by one fault the
frame format does not see: a frame whose body + CRC ends in a 0x00 byte (a CRC ending in 0x00, one frame in
256) ends in the COBS block ``01``; dropping that byte leaves a valid frame of the body less its last byte,
with a valid CRC (a CRC without final XOR cannot see trailing zeros). Such a body is never one whole CBOR item
(no proper prefix of one is), so the receiver rejects it as a message instead: ``frames_damaged_crc_ok``
counts them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from ether_lite.framing import FrameError, decode_frame

DELIMITER = 0
WINDOW = 1 << 16  # input frames kept waiting for their output copy (more than 1 MB of buffered frames)
SCAN = 256  # an output frame is compared with this many of the oldest waiting input frames
MAX_PARTIAL = 1 << 16  # longest partial frame kept for comparison; longer ones are damaged anyway
MAX_LOST_KEPT = 10_000


@dataclass
class FrameCounts:
    frames_in: int = 0  # complete input frames (ended by a delimiter)
    frames_intact: int = 0  # output frames identical to an input frame
    frames_damaged: int = 0  # non-empty output frames matching no input frame: a receiver must reject these
    frames_damaged_crc_ok: int = 0  # of those, frames whose CRC checks (rejected by the body, not the CRC)
    frames_lost: int = 0  # input frames that never came out intact
    frames_empty: int = 0  # empty output frames (two delimiters in a row), which receivers skip
    lost: list[bytes] = field(default_factory=list, repr=False)  # the lost input frames (the first 10,000)


class _Splitter:
    def __init__(self) -> None:
        self.partial = bytearray()
        self.overlong = False

    def feed(self, data: bytes) -> list[bytes | None]:
        """Complete frames in ``data`` (``None`` for one too long to keep)."""
        frames: list[bytes | None] = []
        start = 0
        while True:
            end = data.find(DELIMITER, start)
            if end < 0:
                self._keep(data[start:])
                return frames
            self._keep(data[start:end])
            frames.append(None if self.overlong else bytes(self.partial))
            self.partial.clear()
            self.overlong = False
            start = end + 1

    def _keep(self, piece: bytes) -> None:
        if self.overlong:
            return
        if len(self.partial) + len(piece) > MAX_PARTIAL:
            self.overlong = True
            self.partial.clear()
        else:
            self.partial += piece


class FrameLedger:
    def __init__(self) -> None:
        self.counts = FrameCounts()
        self._pending: deque[bytes | None] = deque()
        self._inp = _Splitter()
        self._out = _Splitter()

    @property
    def in_flight(self) -> int:
        """Input frames not accounted for yet (still queued, delayed, or awaiting their delimiter out)."""
        return len(self._pending)

    def saw_input(self, data: bytes) -> None:
        for frame in self._inp.feed(data):
            if frame == b"":
                continue  # an empty input frame (a lone delimiter) is not a frame
            self.counts.frames_in += 1
            self._pending.append(frame)
            if len(self._pending) > WINDOW:
                self._lose(self._pending.popleft())

    def saw_output(self, data: bytes) -> None:
        for frame in self._out.feed(data):
            if frame == b"":
                self.counts.frames_empty += 1
                continue
            self._resolve(frame)

    def _resolve(self, frame: bytes | None) -> None:
        if frame is not None:
            for k, want in enumerate(self._pending):
                if k >= SCAN:
                    break
                if want == frame:
                    for _ in range(k):
                        self._lose(self._pending.popleft())
                    self._pending.popleft()
                    self.counts.frames_intact += 1
                    return
        self.counts.frames_damaged += 1
        if frame is not None:
            try:
                decode_frame(frame)
            except FrameError:
                return
            self.counts.frames_damaged_crc_ok += 1

    def _lose(self, frame: bytes | None) -> None:
        self.counts.frames_lost += 1
        if len(self.counts.lost) < MAX_LOST_KEPT:
            self.counts.lost.append(frame if frame is not None else b"")

    def cut(self) -> None:
        """The link was cut: frames in flight are lost, partial frames on both sides are abandoned."""
        while self._pending:
            self._lose(self._pending.popleft())
        self._inp = _Splitter()
        self._out = _Splitter()

    def settle(self) -> None:
        """Account as lost every input frame that output has already passed (call when traffic stopped).

        Input frames still pending when the output holds no partial frame will never come: they are lost.
        """
        if not self._out.partial:
            while self._pending:
                self._lose(self._pending.popleft())
