"""``usb_cdc`` of the emulated board: the data channel is this process's stdin/stdout.

As on a board, ``data`` is None until ``boot.py`` has called ``enable(data=True)`` and the board has
(re)started; ``tests/circuitpython/run_drive.py`` applies what boot.py asked for (``_boot()``). Reads never
block (``select.poll`` first, then one byte at a time: the unix port's ``readinto`` waits for a full buffer).
``connected`` stands for DTR: true until the host closes the port (end of file on stdin), which powers the
emulated board off (``SystemExit``), so a device whose host went away does not spin on a dead port.
"""

import select
import sys

console = None  # the REPL console: this process's stderr (print() goes to stdout, the data channel)
data = None
_asked = [True, False]  # console, data: what boot.py asked for, in effect after the next (re)start


def enable(console=True, data=False):
    _asked[0] = console
    _asked[1] = data


def disable():
    enable(False, False)


class Serial:
    def __init__(self):
        self._in = sys.stdin.buffer
        self._out = sys.stdout.buffer
        self._poll = select.poll()
        self._poll.register(self._in, select.POLLIN)
        self._one = bytearray(1)
        self.timeout = 1.0
        self.write_timeout = None
        self.connected = True

    def _readable(self):
        for _, events in self._poll.ipoll(0):
            return events
        return 0

    @property
    def in_waiting(self):
        """1 when at least a byte can be read (a pipe does not say how many)."""
        return 1 if self._readable() else 0

    def readinto(self, buf, nbytes=None):
        n = len(buf) if nbytes is None else min(nbytes, len(buf))
        got = 0
        while got < n and self._readable():
            if not self._in.readinto(self._one):
                self._power_off()
            buf[got] = self._one[0]
            got += 1
        return got

    def read(self, nbytes=None):
        buf = bytearray(64 if nbytes is None else nbytes)
        return bytes(buf[: self.readinto(buf)])

    def write(self, buf):
        try:
            return self._out.write(buf)
        except OSError:  # EPIPE: the host closed the port
            self._power_off()

    def flush(self):
        pass

    def reset_input_buffer(self):
        while self._readable():
            if not self._in.readinto(self._one):
                self._power_off()

    def reset_output_buffer(self):
        pass

    def _power_off(self):
        self.connected = False
        raise SystemExit(0)


def _boot():
    """The board (re)started: the channels boot.py asked for exist from now on."""
    global data
    if _asked[1] and data is None:
        data = Serial()
