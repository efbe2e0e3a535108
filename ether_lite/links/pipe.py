"""A link over two file descriptors: stdin/stdout of a process, or the ends of pipes (CPython).

Desktop simulation runs board code in a child process and talks to it over its stdin/stdout.
End of file on the read side sets ``eof`` (and ``connected`` false): ``Node.run`` then returns, so a
simulated device exits when its host goes away.
"""

import os
import select


def from_spec(spec):
    """``"pipe:RFD,WFD"``, or ``"stdio"``: this process's stdin/stdout (CPython; MicroPython and
    CircuitPython: ``links.stdio``)."""
    if spec == "stdio":
        return stdio()
    r, w = spec[5:].split(",")
    return PipeLink(int(r), int(w))


class PipeLink:
    def __init__(self, read_fd, write_fd):
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.connected = True
        self.eof = False

    def readinto(self, buf):
        if not self.connected:
            return 0
        r, _, _ = select.select([self.read_fd], [], [], 0)
        if not r:
            return 0
        data = os.read(self.read_fd, len(buf))
        if not data:
            self.connected = False
            self.eof = True
            return 0
        n = len(data)
        buf[:n] = data
        return n

    def write(self, buf, n=-1):
        view = memoryview(buf)[: len(buf) if n < 0 else n]
        while len(view):
            k = os.write(self.write_fd, view)
            view = view[k:]

    def wait(self, timeout_ms):
        if self.connected:
            select.select([self.read_fd], [], [], timeout_ms / 1000)

    def close(self):
        self.connected = False


def stdio():
    """The process's stdin/stdout as the link. ``print`` then goes to stderr (where possible), so the
    board code's own output cannot corrupt the frames on stdout."""
    import sys

    try:
        sys.stdout.flush()
        sys.stdout = sys.stderr
    except AttributeError:  # a port whose sys.stdout cannot be replaced
        pass
    return PipeLink(0, 1)
