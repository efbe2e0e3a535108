"""A hardware UART through ``busio.UART`` on the board's default TX/RX pins (CircuitPython)."""


def from_spec(spec):
    """``"uart"`` or ``"uart:BAUD"``."""
    return UartLink(int(spec[5:]) if spec.startswith("uart:") else 115200)


class UartLink:
    def __init__(self, baudrate=115200, tx=None, rx=None):
        import board
        import busio

        self.port = busio.UART(tx or board.TX, rx or board.RX, baudrate=baudrate, timeout=0,
                               receiver_buffer_size=512)
        self.connected = True
        self._buf = None
        self._view = None

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
        self.port.deinit()
        self.connected = False
