"""An in-memory link pair (the reference implementation of the link contract, for tests).

``a, b = memory_pair()``: bytes written to ``a`` are read from ``b`` and back. Each direction is a ring
buffer allocated once, so writing and reading allocate nothing. A full ring drops the newest bytes and
counts them in ``dropped`` (like a UART whose receive buffer overflowed).
"""


class _Ring:
    def __init__(self, size):
        self.buf = bytearray(size)
        self.head = 0  # next byte to read
        self.count = 0
        self.dropped = 0

    def put(self, data, n):
        size = len(self.buf)
        t = (self.head + self.count) % size
        for i in range(n):
            if self.count == size:
                self.dropped += n - i
                return
            self.buf[t] = data[i]
            t += 1
            if t == size:
                t = 0
            self.count += 1

    def get(self, out):
        k = min(len(out), self.count)
        size = len(self.buf)
        h = self.head
        for i in range(k):
            out[i] = self.buf[h]
            h += 1
            if h == size:
                h = 0
        self.head = h
        self.count -= k
        return k


class MemoryLink:
    def __init__(self, rx, tx):
        self._rx = rx
        self._tx = tx
        self.connected = True

    def readinto(self, buf):
        return self._rx.get(buf)

    def write(self, buf, n=-1):
        self._tx.put(buf, len(buf) if n < 0 else n)

    @property
    def dropped(self):
        return self._tx.dropped

    def close(self):
        self.connected = False


def memory_pair(size=4096):
    """Two connected ends of an in-memory byte link."""
    ab = _Ring(size)
    ba = _Ring(size)
    return MemoryLink(ba, ab), MemoryLink(ab, ba)
