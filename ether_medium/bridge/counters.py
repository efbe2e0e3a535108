"""Per-link counters: what crossed the link and everything that went wrong on it.

Nothing is dropped silently: every frame the bridge discards increments one of these, and the whole set is
logged when the bridge stops and on demand (see :mod:`ether_medium.bridge.service`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["LinkCounters"]


@dataclass(slots=True)
class LinkCounters:
    frames_in: int = 0  # valid frames received (CRC ok)
    frames_out: int = 0  # frames written to the link
    bytes_in: int = 0
    bytes_out: int = 0
    crc_errors: int = 0  # frames dropped for a CRC mismatch
    cobs_errors: int = 0  # frames dropped for bad COBS (truncated block, too short, datagram without 0x00)
    oversize: int = 0  # frames dropped for more than 256 bytes of body
    decode_errors: int = 0  # bodies that are not CBOR or not a valid message
    internal_errors: int = 0  # bodies whose handling raised (a bridge bug): dropped, the bridge runs on
    strangers: int = 0  # datagrams dropped: from another address than the board's after its HELLO
    wrong_hellos: int = 0  # HELLOs dropped on a datagram link: another device id than the board's
    unkeyed: int = 0  # frames refused on a keyed link: MAC, counter or HELLO proof does not verify
    version_errors: int = 0  # messages of another protocol version
    published: int = 0  # device PUBs forwarded into the fabric
    sequence_gaps: int = 0  # PUBs lost per the sequence numbers (datagram links: not come within 1 s)
    duplicates: int = 0  # PUBs received twice (same sequence number)
    reordered: int = 0  # PUBs that arrived after a later one (datagram links): published, not lost
    rejected: int = 0  # PUBs dropped: unknown topic, before DESCRIBE, wrong number of values
    describe_errors: int = 0  # DESCRIBEs refused: invalid, duplicate name, conflicting
    delivered: int = 0  # DELIVERs acknowledged by the device
    delivery_failures: int = 0  # DELIVERs not acknowledged after every retry, or refused
    retransmissions: int = 0  # DELIVERs sent again for want of an ACK
    device_errors: int = 0  # ERROR frames received from the device
    logs: int = 0  # LOG frames received
    logs_dropped: int = 0  # LOG frames beyond device_reports.LOG_RATE a second: not passed on (a count said)
    pings: int = 0
    pongs: int = 0
    clock_jumps: int = 0  # device clock jumps detected (PONG far from the prediction); mapping restarted
    reconnects: int = 0  # times the link was opened again after a loss
    resets: int = 0  # device resets seen (new boot id)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def summary(self) -> str:
        """One line, non-zero counters only (``frames_in`` and ``frames_out`` always)."""
        items = self.as_dict()
        keep = {"frames_in", "frames_out"}
        return ", ".join(f"{k}={v}" for k, v in items.items() if v or k in keep)
