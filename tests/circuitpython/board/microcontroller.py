"""``microcontroller`` of the emulated board: ``cpu`` (uid, temperature, frequency), ``Pin``, ``reset()``.

``reset()`` raises ``Reset``, a ``BaseException`` that ether_lite's handlers let through, so that
``tests/circuitpython/run_drive.py`` starts the board over: boot.py, then code.py with fresh modules.
"""

import time


class Pin:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return "board." + self.name


class Reset(BaseException):
    """The board resets (raised by ``reset()``, handled by the runner)."""


class _Cpu:
    frequency = 48000000  # a SAMD21's clock
    voltage = 3.3
    uid = b"\x45\x54\x48\x45\x52\x00\x00\x01"

    @property
    def temperature(self):
        """About 24 C, wobbling by a few hundredths with time."""
        return 24.0 + (time.ticks_ms() % 1000) / 20000


cpu = _Cpu()
cpus = (cpu,)


def reset():
    raise Reset()


def on_next_reset(run_mode):
    pass


def delay_us(delay):
    time.sleep_us(delay)
