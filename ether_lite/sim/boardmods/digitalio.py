"""Simulated ``digitalio`` (CircuitPython API) on the pins of the simulated board.

An output drives the model wired to its pin (``drive(level)``), an input reads it (``sense(pull)``).
Errors match CircuitPython's: setting ``value`` on an input or ``pull`` on an output raises
``AttributeError``; a pin used twice raises ``ValueError: D5 in use``.
"""

# No "from __future__ import annotations": it would add an ``annotations`` name the real module lacks.
import typing as _typing

from ether_lite.sim import bench as _bench
from ether_lite.sim.models import Wire as _Wire

if _typing.TYPE_CHECKING:
    from ether_lite.sim.boardmods.microcontroller import Pin as _Pin


class _Const:
    def __init__(self, kind: str, name: str) -> None:
        self.kind = kind
        self.name = name

    def __repr__(self) -> str:
        return f"digitalio.{self.kind}.{self.name}"


class Direction:
    INPUT = _Const("Direction", "INPUT")
    OUTPUT = _Const("Direction", "OUTPUT")


class DriveMode:
    PUSH_PULL = _Const("DriveMode", "PUSH_PULL")
    OPEN_DRAIN = _Const("DriveMode", "OPEN_DRAIN")


class Pull:
    UP = _Const("Pull", "UP")
    DOWN = _Const("Pull", "DOWN")


class DigitalInOut(_bench.PinUser):
    """A digital pin; defaults to input with no pull, as on the board."""

    def __init__(self, pin: "_Pin") -> None:
        self._bench = _bench.current()
        self._name = pin._name
        self._bench.claim(self._name)
        model = self._bench.model_at(self._name)
        if model is None:
            model = self._bench.wire(self._name, _Wire())
        self._model = model
        self._direction = Direction.INPUT
        self._pull: _Const | None = None
        self._drive_mode = DriveMode.PUSH_PULL
        self._level = False
        self._deinited = False

    # direction
    def switch_to_output(self, value: bool = False, drive_mode: _Const = DriveMode.PUSH_PULL) -> None:
        self._check()
        self._direction = Direction.OUTPUT
        self._drive_mode = drive_mode
        self._pull = None
        self._write(value)

    def switch_to_input(self, pull: _Const | None = None) -> None:
        self._check()
        self._direction = Direction.INPUT
        self._pull = pull

    @property
    def direction(self) -> _Const:
        self._check()
        return self._direction

    @direction.setter
    def direction(self, value: _Const) -> None:
        if value is Direction.OUTPUT:
            self.switch_to_output()
        elif value is Direction.INPUT:
            self.switch_to_input()
        else:
            raise ValueError(f"direction must be digitalio.Direction.INPUT or OUTPUT, got {value!r}")

    # level
    def _write(self, level: bool) -> None:
        self._level = bool(level)
        drive = getattr(self._model, "drive", None)
        if drive is None:
            raise ValueError(f"{self._name} is wired to {type(self._model).__name__}, "
                             "which cannot be driven as an output")
        drive(self._level)

    def _model_level(self) -> bool:
        return bool(getattr(self._model, "on", self._level))

    @property
    def value(self) -> bool:
        self._check()
        if self._direction is Direction.OUTPUT:
            return self._level
        sense = getattr(self._model, "sense", None)
        return self._model_level() if sense is None else bool(sense(self._pull))

    @value.setter
    def value(self, level: bool) -> None:
        self._check()
        if self._direction is not Direction.OUTPUT:
            raise AttributeError("Cannot set value when direction is input.")
        self._write(level)

    @property
    def pull(self) -> _Const | None:
        self._check()
        if self._direction is Direction.OUTPUT:
            raise AttributeError("Pull not used when direction is output.")
        return self._pull

    @pull.setter
    def pull(self, pull: _Const | None) -> None:
        self._check()
        if self._direction is Direction.OUTPUT:
            raise AttributeError("Pull not used when direction is output.")
        self._pull = pull

    @property
    def drive_mode(self) -> _Const:
        self._check()
        if self._direction is Direction.INPUT:
            raise AttributeError("Drive mode not used when direction is input.")
        return self._drive_mode

    @drive_mode.setter
    def drive_mode(self, mode: _Const) -> None:
        self._check()
        if self._direction is Direction.INPUT:
            raise AttributeError("Drive mode not used when direction is input.")
        self._drive_mode = mode
