"""A pyserial port or URL (CPython): ``/dev/ttyACM0``, ``COM3``, ``socket://host:port``, ``loop://``."""


def from_spec(spec):
    """Any pyserial URL (``"socket://h:p"``, ``"loop://"``) or device path (``"/dev/ttyACM0"``, ``"COM3"``)."""
    if "://" in spec or spec.startswith("/dev/") or spec.upper().startswith("COM"):
        return SerialLink(spec)
    raise ValueError(
        "unknown link %r: use usb_cdc, uart[:BAUD], udp://HOST:PORT, stdio, pipe:RFD,WFD, or a pyserial URL" % spec
    )


class SerialLink:
    def __init__(self, url, baudrate=115200):
        import serial  # pyserial, CPython only

        self.port = serial.serial_for_url(url, baudrate=baudrate, timeout=0, write_timeout=1)
        self.connected = True

    def readinto(self, buf):
        waiting = self.port.in_waiting
        if not waiting:
            return 0
        data = self.port.read(min(waiting, len(buf)))
        n = len(data)
        buf[:n] = data
        return n

    def write(self, buf, n=-1):
        self.port.write(memoryview(buf)[: len(buf) if n < 0 else n])

    def wait(self, timeout_ms):
        fd = getattr(self.port, "fd", None)
        if fd is None:
            import time

            time.sleep(min(timeout_ms, 1) / 1000)
            return
        import select

        select.select([fd], [], [], timeout_ms / 1000)

    def close(self):
        self.port.close()
        self.connected = False
