"""stdin/stdout of MicroPython running under Node.js (tests/micropython/run.mjs --stdio-link).

The WebAssembly port has no file descriptors of its own; the runner lends it the JavaScript module
``ether_host_io`` (non-blocking ``read``, ``write`` of hex text, and a short ``wait``). This is how a
simulated board runs on the real MicroPython interpreter, talking to the host over a pipe.
"""

import binascii


class NodeStdioLink:
    def __init__(self):
        import ether_host_io  # ImportError outside the runner: links.stdio then serves

        self._io = ether_host_io
        self.connected = True
        self.eof = False

    def readinto(self, buf):
        if self.eof:
            return 0
        data = self._io.read(len(buf))
        if data is None:
            self.eof = True
            self.connected = False
            return 0
        data = bytes(data)
        n = len(data)
        buf[:n] = data
        return n

    def write(self, buf, n=-1):
        self._io.write(binascii.hexlify(memoryview(buf)[: len(buf) if n < 0 else n]).decode())

    def wait(self, timeout_ms):
        self._io.wait(timeout_ms)

    def close(self):
        self.connected = False
