"""The issue's minimal device, as board code, for the RAM figures of bench/lite.py (MicroPython, the emulated
board) and bench/lite_circuitpython.py (CircuitPython): a 1 Hz publisher and a subscriber served by run().

HostLink stands in for usb_cdc.data (native on a board) and costs nothing: each readinto hands over the host's
next chunk of frames (a PING and a DELIVER to set_led), and what the device writes is counted and dropped.
The program assumes ``ether_pub``, ``ether_sub`` and ``run`` imported from ether_lite, and leaves ``link``,
``thermo`` (the instance) and ``node`` (what run() returned) behind.
"""

from __future__ import annotations

from ether_lite import cbor, framing, protocol

__all__ = ["device_py", "host_chunks"]

DEVICE_PY = r"""
class HostLink:
    connected = True

    def __init__(self, chunks):
        self.chunks = chunks
        self.polls = 0

    def readinto(self, buf):
        self.polls += 1
        if not self.chunks:
            return 0
        c = self.chunks.pop(0)
        buf[: len(c)] = c
        return len(c)

    def write(self, buf, n=-1):
        pass


class Thermometer:
    @ether_pub(every=1.0)
    def read(self):
        return {"celsius": 21.5}

    @ether_sub()
    def set_led(self, on: bool):
        self.on = on


link = HostLink(CHUNKS)
thermo = Thermometer()
node = run(thermo, link=link, until=lambda: link.polls > ROUNDS)
# HELLO, 2 DESCRIBEs, the read DESCRIBE again (fields learnt), a PUB; per round a PONG and an ACK
assert node.sent == 5 + 2 * ROUNDS and node.received == 2 * ROUNDS and thermo.on, node.sent
"""


# The same device with arrays (PROTOCOL.md, "Arrays"): a 1 Hz publisher of 100 int16 samples and a subscriber
# of a uint8 array; the host's DELIVERs carry 8 levels as a typed array. What a board pays for arrays.
ARRAY_CLASS = r"""
import array


class Thermometer:
    def __init__(self):
        self.samples = array.array("h", range(100))

    @ether_pub(every=1.0, fields=[("samples", "[h")])
    def read(self):
        return {"samples": self.samples}

    @ether_sub(fields=[("levels", "[B")])
    def set_led(self, levels):
        self.on = levels
"""


def host_chunks(rounds: int, arrays: bool = False) -> list[bytes]:
    """What the host sends, one chunk per poll: a PING and a DELIVER {"on": True} to set_led (topic 1);
    ``arrays``: the DELIVER carries eight uint8 levels as a typed array instead."""
    value = cbor.CBORTag(protocol.ARRAY_TAGS["[u1"], bytes(range(8))) if arrays else {"on": True}
    return [framing.encode_frame(cbor.dumps(protocol.ping(i + 1)))
            + framing.encode_frame(cbor.dumps(protocol.deliver(1, 7 + i, [value])))
            for i in range(rounds)]


def device_py(rounds: int, arrays: bool = False) -> str:
    """The device's source: run() returns once the device has answered ``rounds`` chunks of the host's;
    ``arrays``: its array variant (ARRAY_CLASS), whose fields are declared (no second DESCRIBE)."""
    code = DEVICE_PY.replace("CHUNKS", repr(host_chunks(rounds, arrays))).replace("ROUNDS", str(rounds))
    if arrays:
        start, end = code.index("class Thermometer:"), code.index("link = HostLink(")
        code = code[:start] + ARRAY_CLASS.lstrip() + "\n\n" + code[end:]
        code = code.replace("node.sent == 5 +", "node.sent == 4 +")
    return code
