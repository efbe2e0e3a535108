"""Simulated ``analogio`` (CircuitPython API): ``AnalogIn(pin).value`` is 16-bit (0..65535) whatever the
ADC's resolution, ``reference_voltage`` in volts; ``AnalogOut(pin).value`` is write-only.
"""

# No "from __future__ import annotations": it would add an ``annotations`` name the real module lacks.
import typing as _typing
from collections.abc import Callable as _Callable

from ether_lite.sim import bench as _bench

if _typing.TYPE_CHECKING:
    from ether_lite.sim.boardmods.microcontroller import Pin as _Pin


class _Analog(_bench.PinUser):
    def __init__(self, pin: "_Pin") -> None:
        self._bench = _bench.current()
        self._name = pin._name
        self._model = self._bench.model_at(self._name)
        self._check_model()
        self._bench.claim(self._name)
        self._deinited = False

    def _check_model(self) -> None:
        pass


class AnalogIn(_Analog):
    _volts: _Callable[[], float]

    def _check_model(self) -> None:
        volts = getattr(self._model, "volts", None)
        if volts is None:
            raise ValueError("Pin does not have ADC capabilities (simulated board: "
                             f"{self._name} has no analog source wired; wire one with "
                             f"bench.wire({self._name!r}, AnalogSource(bench)))")
        self._volts = volts

    @property
    def value(self) -> int:
        self._check()
        ref = self.reference_voltage
        raw = round(self._volts() / ref * 65535)
        return min(max(raw, 0), 65535)

    @property
    def reference_voltage(self) -> float:
        return float(getattr(self._model, "reference_volts", 3.3))


class AnalogOut(_Analog):
    """A DAC output; the last value written is kept as ``last_value`` for tests (write-only on boards)."""

    def __init__(self, pin: "_Pin") -> None:
        super().__init__(pin)
        self.last_value = 0

    @property
    def value(self) -> int:
        raise AttributeError("AnalogOut.value is write-only")

    @value.setter
    def value(self, value: int) -> None:
        self._check()
        value = int(value)
        if not 0 <= value <= 65535:
            raise ValueError(f"value must be 0..65535, got {value!r}")
        self.last_value = value
        setter = getattr(self._model, "set_volts", None)
        if setter is not None:
            setter(value / 65535 * 3.3)
