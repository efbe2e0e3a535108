"""CircuitPython's USB CDC data channel (``usb_cdc.data``, enabled in firmware/boot.py).

``connected`` follows DTR: the host opened the port. Without DTR nothing is received, so the Node sends
HELLO each time the host opens the port.
"""


def from_spec(spec):
    """``"usb_cdc"``."""
    return UsbCdcLink()


class UsbCdcLink:
    def __init__(self):
        import usb_cdc

        if usb_cdc.data is None:
            raise RuntimeError("usb_cdc.data is off: add usb_cdc.enable(console=True, data=True) to boot.py and reset")
        self.port = usb_cdc.data
        self.port.timeout = 0
        self._buf = None
        self._view = None

    @property
    def connected(self):
        return self.port.connected

    def readinto(self, buf):
        if not self.port.in_waiting:
            return 0
        return self.port.readinto(buf) or 0

    def write(self, buf, n=-1):
        if n < 0 or n == len(buf):
            self.port.write(buf)
            return
        if buf is not self._buf:
            self._buf = buf
            self._view = memoryview(buf)
        self.port.write(self._view[:n])

    def close(self):
        pass
