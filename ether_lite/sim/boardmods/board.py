"""Simulated ``board`` for the desktop: the pins of the Ether simulated board.

Pins: ``LED``, ``BUTTON``, ``D0``..``D13``, ``A0``..``A3``, and ``GP0``..``GP28`` as on a Raspberry Pi
Pico (``GP25`` is ``LED``, ``GP26``..``GP28`` are ``A0``..``A2``, ``GP0``..``GP13`` are ``D0``..``D13``),
so code written for a Pico, a QT Py or a Feather finds the names it uses. Which model sits on which pin
is the bench's wiring (see :func:`ether_lite.sim.install.default_wiring`).
"""

# No "from __future__ import annotations": it would add an ``annotations`` name the real module lacks
# (code lists pins with dir(board)).
import typing as _typing

if _typing.TYPE_CHECKING:  # for mypy the simulated microcontroller; at run time the one install() put first
    from ether_lite.sim.boardmods.microcontroller import Pin as _Pin
else:
    from microcontroller import Pin as _Pin

board_id = "ether_sim"

LED = _Pin("LED")
BUTTON = _Pin("BUTTON")
A0 = _Pin("A0")
A1 = _Pin("A1")
A2 = _Pin("A2")
A3 = _Pin("A3")

_g = globals()
for _i in range(14):
    _g[f"D{_i}"] = _g[f"GP{_i}"] = _Pin(f"D{_i}")
for _i in range(14, 29):
    _g[f"GP{_i}"] = _Pin(f"GP{_i}")
GP25 = LED
GP26, GP27, GP28 = A0, A1, A2
del _g, _i


def _no_bus(kind: str) -> _typing.NoReturn:
    raise NotImplementedError(f"the simulated board has no {kind} bus; simulate the device on the bus "
                              "instead, "
                              "or run this code with adafruit-blinka against real pins")


def I2C() -> _typing.NoReturn:
    _no_bus("I2C")


def SPI() -> _typing.NoReturn:
    _no_bus("SPI")


def UART() -> _typing.NoReturn:
    _no_bus("UART")
