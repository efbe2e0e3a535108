"""Inside MicroPython (WebAssembly port, under node): the device's link is the node process's stdin/stdout.

``hil/micropython_device.mjs`` registers the JavaScript module ``hil_stdio`` (``take(n)`` returns up to n
received bytes as hex, ``put(hex)`` writes to stdout, ``connected()``) and drives ``DeviceRunner.step()``
from node's event loop, so nothing here blocks and nothing spins while the link is idle.
This file is only for that runner; ether_lite itself knows nothing of node.
"""

import binascii

import hil_stdio

from ether_lite import Node


class JsStdioLink:
    """The ether_lite link contract over the ``hil_stdio`` JavaScript module."""

    @property
    def connected(self):
        return bool(hil_stdio.connected())

    def readinto(self, buf):
        text = hil_stdio.take(len(buf))
        if not text:
            return 0
        data = binascii.unhexlify(text)
        n = len(data)
        buf[:n] = data
        return n

    def write(self, buf, n=-1):
        if n < 0:
            n = len(buf)
        hil_stdio.put(binascii.hexlify(memoryview(buf)[:n]).decode())

    def close(self):
        pass


class DeviceRunner:
    """Serve one instance of ``cls``; when it asks for a reset, start a fresh instance (new boot id)."""

    def __init__(self, cls, device_id=None):
        self.cls = cls
        self.device_id = device_id
        self.link = JsStdioLink()
        self.resets = 0
        self._start()

    def _start(self):
        self.device = self.cls()
        self.node = Node(self.device, self.link, device_id=self.device_id)

    def step(self):
        """One poll; milliseconds until the next one is needed (0: call again at once)."""
        busy = self.node.poll()
        if getattr(self.device, "reset_requested", False):
            self.node.close()
            self.resets += 1
            self._start()
            return 0
        if busy:
            return 0
        return self.node.next_due_ms()
