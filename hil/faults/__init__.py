"""The link fault injector: a proxy between the bridge and a device that corrupts, drops, duplicates and
delays bytes (or datagrams) and cuts the link, at seeded rates, counting what it did per direction.

Library: :class:`StreamFaultProxy` (pty to pty or pipes) and :class:`DatagramFaultProxy` (UDP), both
context managers. Command line: ``python -m hil.faults --help``.
"""

from hil.faults.plan import NO_FAULTS, FaultRates
from hil.faults.stats import DirectionStats
from hil.faults.stream import TO_BRIDGE, TO_DEVICE, StreamFaultProxy
from hil.faults.udp import DatagramFaultProxy

__all__ = [
    "NO_FAULTS",
    "TO_BRIDGE",
    "TO_DEVICE",
    "DatagramFaultProxy",
    "DirectionStats",
    "FaultRates",
    "StreamFaultProxy",
]
