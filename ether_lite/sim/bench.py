"""The simulated bench: one clock, the models on it, and which board pin is wired to which model.

Desktop only (CPython). ether_lite's device core never imports this package; the simulator installs it
in place of the board modules (see :mod:`ether_lite.sim.install`).

The clock is the bench's own. A :class:`ManualClock` (the default) moves only when a test calls
:meth:`Bench.step`, so a test can drive the models deterministically; :class:`WallClock` follows
``time.monotonic`` for ``ether sim``. Models are evaluated lazily: each one brings itself up to
``bench.now()`` when it is read or changed, so stepping the clock costs nothing.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Protocol, Self, TypeVar

from ether_lite.sim.thermal import PowerBus, ThermalMass

if TYPE_CHECKING:
    from ether_lite.sim.models import AnalogSource, Button, Heater, Led, Thermometer

_Model = TypeVar("_Model")  # Bench.wire returns the model it was given, as its own type


class Clock(Protocol):
    """A bench's clock: calling it gives the bench time in seconds; ``advance`` moves a manual one."""

    def __call__(self) -> float: ...

    def advance(self, dt_s: float) -> None: ...


class ManualClock:
    """A clock that moves only when told to: ``advance(dt_s)``."""

    def __init__(self, start_s: float = 0.0) -> None:
        self.t_s = float(start_s)

    def __call__(self) -> float:
        return self.t_s

    def advance(self, dt_s: float) -> None:
        if dt_s < 0:
            raise ValueError(f"a clock cannot go back: advance({dt_s!r}) needs dt_s >= 0")
        self.t_s += dt_s


class WallClock:
    """Seconds since the bench was made, from ``time.monotonic``."""

    def __init__(self) -> None:
        self._t0 = time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() - self._t0

    def advance(self, dt_s: float) -> None:
        raise TypeError("a bench on the wall clock follows real time; make it with "
                        "Bench(clock=ManualClock()) to step it by hand")


class Bench:
    """The simulated world of one board: clock, models, pin wiring, processor identity.

    ``seed`` makes every model's noise reproducible. ``power_bus`` carries heater power to the thermal
    mass; pass a file-backed :class:`PowerBus` to share one thermal world between two processes
    (a heater board and a thermometer board).

    The standard parts below are set by :func:`ether_lite.sim.install.default_wiring`; a bench wired
    otherwise does not have them (reading one raises ``AttributeError``).
    """

    thermometer: Thermometer
    heater: Heater
    led: Led
    button: Button
    adc: AnalogSource

    def __init__(self, seed: int | str = 0, clock: Clock | None = None, ambient_c: float = 22.0,
                 power_bus: PowerBus | None = None, tau_s: float = 30.0, rise_c_per_w: float = 0.5,
                 uid: bytes | bytearray = b"\x00\x00\x00\x00\x00\x00\x00\x01") -> None:
        self.seed = seed
        self.clock: Clock = clock if clock is not None else ManualClock()
        self.power_bus = power_bus if power_bus is not None else PowerBus()
        self.thermal = ThermalMass(self, ambient_c=ambient_c, tau_s=tau_s, rise_c_per_w=rise_c_per_w)
        self.uid = bytes(uid)
        self.cpu_thermometer: Thermometer | None = None  # the model microcontroller.cpu.temperature reads
        self._wiring: dict[str, object] = {}  # pin name -> model
        self._claimed: set[str] = set()

    # -- time ---------------------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock()

    def step(self, dt_s: float) -> None:
        """Advance a manual clock by ``dt_s`` seconds."""
        self.clock.advance(dt_s)

    def rng(self, name: str) -> random.Random:
        """A random generator for one model, reproducible from the bench seed and the model's name."""
        return random.Random(f"{self.seed}/{name}")

    # -- wiring -------------------------------------------------------------------------------------
    def wire(self, pin_name: str, model: _Model) -> _Model:
        """Connect board pin ``pin_name`` to ``model``; returns the model."""
        self._wiring[pin_name] = model
        return model

    def model_at(self, pin_name: str) -> object | None:
        """The model wired to a pin, or None for a pin with nothing on it."""
        return self._wiring.get(pin_name)

    def wiring(self) -> dict[str, object]:
        return dict(self._wiring)

    def claim(self, pin_name: str) -> None:
        """Mark a pin in use, as CircuitPython does: a second claim raises ``ValueError: D5 in use``."""
        if pin_name in self._claimed:
            raise ValueError(f"{pin_name} in use")
        self._claimed.add(pin_name)

    def release(self, pin_name: str) -> None:
        self._claimed.discard(pin_name)


_current: Bench | None = None


class PinUser:
    """What every simulated pin object (``digitalio.DigitalInOut``, ``analogio.AnalogIn``...) shares: it
    holds ``_bench`` and its pin's ``_name`` (claimed there); ``deinit()``, or leaving a ``with`` block,
    releases the pin, after which using the object raises as CircuitPython does."""

    _bench: Bench
    _name: str
    _deinited = False

    def deinit(self) -> None:
        if not self._deinited:
            self._bench.release(self._name)
            self._deinited = True

    def deinited(self) -> bool:
        return self._deinited

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.deinit()

    def _check(self) -> None:
        if self._deinited:
            raise ValueError("Object has been deinitialized and can no longer be used. Create a new object.")


def current() -> Bench:
    """The bench the simulated board modules are wired to (set by :func:`ether_lite.sim.install`)."""
    if _current is None:
        raise RuntimeError("no simulated bench is installed: call ether_lite.sim.install() before importing "
                           "board, digitalio, analogio or microcontroller on the desktop")
    return _current


def set_current(bench: Bench | None) -> None:
    global _current
    _current = bench
