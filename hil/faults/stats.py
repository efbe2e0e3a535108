"""A snapshot of what the injector did in one direction, comparable with a receiver's counters."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class DirectionStats:
    direction: str  # "to_device" or "to_bridge"
    bytes_in: int = 0  # bytes (datagrams, for UDP) read from the sender
    bytes_out: int = 0  # bytes (datagrams) written to the receiver
    corrupted: int = 0
    dropped: int = 0
    duplicated: int = 0
    delayed: int = 0
    cut_dropped: int = 0  # bytes (datagrams) discarded while the link was cut
    discarded: int = 0  # bytes discarded because the receiver did not read (1 MB already waiting for it)
    frames_in: int = 0
    frames_intact: int = 0
    frames_damaged: int = 0  # frames a receiver's CRC check must reject (UDP: pieces of corrupted datagrams)
    frames_damaged_crc_ok: int = 0  # byte streams: damaged frames that pass the CRC (see ledger.py)
    frames_lost: int = 0  # input frames that never arrived intact
    frames_duplicated: int = 0  # UDP only: extra intact copies
    frames_empty: int = 0
    frames_in_flight: int = 0  # input frames not yet accounted for (still queued or delayed)
    lost: list[bytes] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("lost")
        return out

    def summary(self) -> str:
        return (
            f"{self.direction}: in {self.bytes_in} out {self.bytes_out}; corrupted {self.corrupted} "
            f"dropped {self.dropped} duplicated {self.duplicated} delayed {self.delayed} "
            f"cut {self.cut_dropped}; frames in {self.frames_in} intact {self.frames_intact} "
            f"damaged {self.frames_damaged} lost {self.frames_lost} in flight {self.frames_in_flight}"
        )
