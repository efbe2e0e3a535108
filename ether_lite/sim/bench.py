"""The simulated bench: one clock, the models on it, and which board pin is wired to which model.

Desktop only (CPython). ether_lite's device core never imports this package; the simulator installs it
in place of the board modules (see :mod:`ether_lite.sim.install`).

The clock is the bench's own. A :class:`ManualClock` (the default) moves only when a test calls
:meth:`Bench.step`, so a test can drive the models deterministically; :class:`WallClock` follows
``time.monotonic`` for ``ether sim``. Models are evaluated lazily: each one brings itself up to
``bench.now()`` when it is read or changed, so stepping the clock costs nothing.
"""

import random
import time

from ether_lite.sim.thermal import PowerBus, ThermalMass


class ManualClock:
    """A clock that moves only when told to: ``advance(dt_s)``."""

    def __init__(self, start_s=0.0):
        self.t_s = float(start_s)

    def __call__(self):
        return self.t_s

    def advance(self, dt_s):
        if dt_s < 0:
            raise ValueError(f"a clock cannot go back: advance({dt_s!r}) needs dt_s >= 0")
        self.t_s += dt_s


class WallClock:
    """Seconds since the bench was made, from ``time.monotonic``."""

    def __init__(self):
        self._t0 = time.monotonic()

    def __call__(self):
        return time.monotonic() - self._t0

    def advance(self, dt_s):
        raise TypeError("a bench on the wall clock follows real time; make it with "
                        "Bench(clock=ManualClock()) to step it by hand")


class Bench:
    """The simulated world of one board: clock, models, pin wiring, processor identity.

    ``seed`` makes every model's noise reproducible. ``power_bus`` carries heater power to the thermal
    mass; pass a file-backed :class:`PowerBus` to share one thermal world between two processes
    (a heater board and a thermometer board).
    """

    def __init__(self, seed=0, clock=None, ambient_c=22.0, power_bus=None, tau_s=30.0, rise_c_per_w=0.5,
                 uid=b"\x00\x00\x00\x00\x00\x00\x00\x01"):
        self.seed = seed
        self.clock = clock if clock is not None else ManualClock()
        self.power_bus = power_bus if power_bus is not None else PowerBus()
        self.thermal = ThermalMass(self, ambient_c=ambient_c, tau_s=tau_s, rise_c_per_w=rise_c_per_w)
        self.uid = bytes(uid)
        self.cpu_thermometer = None  # the model microcontroller.cpu.temperature reads
        self._wiring = {}  # pin name -> model
        self._claimed = set()

    # -- time ---------------------------------------------------------------------------------------
    def now(self):
        return self.clock()

    def step(self, dt_s):
        """Advance a manual clock by ``dt_s`` seconds."""
        self.clock.advance(dt_s)

    def rng(self, name):
        """A random generator for one model, reproducible from the bench seed and the model's name."""
        return random.Random(f"{self.seed}/{name}")

    # -- wiring -------------------------------------------------------------------------------------
    def wire(self, pin_name, model):
        """Connect board pin ``pin_name`` to ``model``; returns the model."""
        self._wiring[pin_name] = model
        return model

    def model_at(self, pin_name):
        """The model wired to a pin, or None for a pin with nothing on it."""
        return self._wiring.get(pin_name)

    def wiring(self):
        return dict(self._wiring)

    def claim(self, pin_name):
        """Mark a pin in use, as CircuitPython does: a second claim raises ``ValueError: D5 in use``."""
        if pin_name in self._claimed:
            raise ValueError(f"{pin_name} in use")
        self._claimed.add(pin_name)

    def release(self, pin_name):
        self._claimed.discard(pin_name)


_current = None


class PinUser:
    """What every simulated pin object (``digitalio.DigitalInOut``, ``analogio.AnalogIn``...) shares: it
    holds ``_bench`` and its pin's ``_name`` (claimed there); ``deinit()``, or leaving a ``with`` block,
    releases the pin, after which using the object raises as CircuitPython does."""

    _deinited = False

    def deinit(self):
        if not self._deinited:
            self._bench.release(self._name)
            self._deinited = True

    def deinited(self):
        return self._deinited

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.deinit()

    def _check(self):
        if self._deinited:
            raise ValueError("Object has been deinitialized and can no longer be used. Create a new object.")


def current():
    """The bench the simulated board modules are wired to (set by :func:`ether_lite.sim.install`)."""
    if _current is None:
        raise RuntimeError("no simulated bench is installed: call ether_lite.sim.install() before importing "
                           "board, digitalio, analogio or microcontroller on the desktop")
    return _current


def set_current(bench):
    global _current
    _current = bench
