"""The REPL's own line as the link, on MicroPython and CircuitPython: ``link="stdio"``.

For a board whose only serial line is the REPL's (its USB serial or UART: an ESP32 or RP2040 running
MicroPython, the emulated Cortex-M3 of the HIL suite) and for the interpreters' unix ports, frames travel
on ``sys.stdin.buffer`` / ``sys.stdout.buffer``, read without blocking through ``select.poll``. CPython's
``"stdio"`` is ``links.pipe``; MicroPython under Node.js is ``links.node_stdio``.

While the link is open:

- Ctrl-C is off (``micropython.kbd_intr(-1)``): a 0x03 byte inside a frame is data, not a
  KeyboardInterrupt. To get the REPL back, reset the board (firmware/README.md: give a ``main.py`` a
  moment before it starts, in which Ctrl-C still works). ``close()`` turns Ctrl-C back on.
- ``print()`` would write between the frames on the same line, and the host would drop the text (and
  count the frame it ran into as a CRC error). So each ``print()`` becomes a LOG frame instead
  (``ether_lite.log``): the text arrives in the host's log, under the device's name. That needs a port
  whose builtins can be replaced (MicroPython's ports for ESP32, RP2040, STM32, QEMU and the unix port);
  where they cannot, call ``ether_lite.log(text)`` yourself. ``close()`` gives ``print`` back.
"""

import select
import sys


def from_spec(spec):
    """``"stdio"``."""
    try:
        from ether_lite.links import node_stdio  # MicroPython under Node.js (tests); not on a board

        return node_stdio.NodeStdioLink()
    except ImportError:
        return StdioLink()


class StdioLink:
    def __init__(self):
        try:
            self._in = sys.stdin.buffer
            self._out = sys.stdout.buffer
        except AttributeError:  # text stdio converts newlines: frames would not survive it
            raise RuntimeError("link 'stdio': this firmware has no sys.stdout.buffer (MICROPY_PY_SYS_STDIO_BUFFER); "
                               "use link='usb_cdc' or 'uart'")
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)
        self._one = bytearray(1)
        self.connected = True
        self.eof = False
        self._taken = True
        _take_line(True)

    def _ready(self, timeout_ms):
        for _ in self._poll.ipoll(timeout_ms):  # ipoll allocates nothing
            return True
        return False

    def readinto(self, buf):
        n = 0
        one = self._one
        while n < len(buf) and self._ready(0):
            if not self._in.readinto(one):  # end of file (a unix port's stdin closed)
                self.eof = True
                self.connected = False
                break
            buf[n] = one[0]
            n += 1
        return n

    def write(self, buf, n=-1):
        self._out.write(buf, len(buf) if n < 0 else n)  # a stream's write(buf, max_len): no slice

    def wait(self, timeout_ms):
        self._ready(timeout_ms)

    def close(self):
        if self._taken:
            self._taken = False
            _take_line(False)
        self.connected = False


_builtin_print = None


def _print(*args, sep=" ", end="\n", file=None):
    """``print`` while the line carries frames: one LOG frame per call (to a file: printed as usual)."""
    if file is not None and file is not sys.stdout and file is not sys.stderr:
        return _builtin_print(*args, sep=sep, end=end, file=file)
    from ether_lite import log

    log(sep.join([str(a) for a in args]))


def _take_line(take):
    """Ctrl-C off and ``print`` to LOG frames (``take``), or both back as they were."""
    global _builtin_print
    try:
        import micropython

        micropython.kbd_intr(-1 if take else 3)
    except (ImportError, AttributeError):
        pass
    try:
        import builtins

        if take:
            _builtin_print = builtins.print
            builtins.print = _print
        elif _builtin_print is not None:
            builtins.print = _builtin_print
            _builtin_print = None
    except (ImportError, AttributeError, TypeError):  # builtins fixed in this build
        pass
