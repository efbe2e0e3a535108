"""Simulated ``microcontroller`` (CircuitPython API): ``Pin``, ``cpu``/``cpus``, ``reset`` ...

``cpu.temperature`` reads the bench's thermometer, ``cpu.uid`` is the stable id given to
``ether_lite.sim.install(device_id=...)``. Desktop only; installed by :mod:`ether_lite.sim.install`.
"""

import time as _time
import typing as _typing

from ether_lite.sim import bench as _bench


class Pin:
    """A pin of the simulated board. Board code gets these from ``board``; it never makes them."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __hash__(self) -> int:
        return hash(("Pin", self._name))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pin) and other._name == self._name

    def __repr__(self) -> str:
        return f"board.{self._name}"


class ResetReason:
    POWER_ON = "POWER_ON"
    BROWNOUT = "BROWNOUT"
    SOFTWARE = "SOFTWARE"
    DEEP_SLEEP_ALARM = "DEEP_SLEEP_ALARM"
    RESET_PIN = "RESET_PIN"
    WATCHDOG = "WATCHDOG"
    UNKNOWN = "UNKNOWN"
    RESCUE_DEBUG = "RESCUE_DEBUG"


class RunMode:
    NORMAL = "NORMAL"
    SAFE_MODE = "SAFE_MODE"
    BOOTLOADER = "BOOTLOADER"
    UF2 = "UF2"


class Processor:
    """The simulated CPU. ``temperature`` in °C (None when the bench has no thermometer)."""

    frequency = 125000000
    voltage = 3.3
    reset_reason = ResetReason.POWER_ON

    @property
    def temperature(self) -> float | None:
        thermometer = _bench.current().cpu_thermometer
        return None if thermometer is None else thermometer.celsius

    @property
    def uid(self) -> bytearray:
        return bytearray(_bench.current().uid)


cpu = Processor()
cpus = (cpu,)
nvm = bytearray(256)
watchdog = None


class SimulatedReset(SystemExit):
    """Raised by :func:`reset`: the simulated board stops its code the way a real one does on reset;
    ``ether sim`` then runs the code again (``cpu.reset_reason`` becomes ``SOFTWARE``)."""


def reset() -> _typing.NoReturn:
    raise SimulatedReset("microcontroller.reset() on the simulated board")


def on_next_reset(run_mode: str) -> None:
    pass


def delay_us(delay: int) -> None:
    _time.sleep(delay / 1e6)


def disable_interrupts() -> None:
    pass


def enable_interrupts() -> None:
    pass
