"""Small models of the hardware on a simulated board.

Each model speaks one of three tiny contracts, which the simulated ``digitalio`` and ``analogio`` use:

- digital output sink:   ``drive(level: bool)``         (LED, heater relay, an unconnected wire)
- digital input source:  ``sense(pull) -> bool``         (button, an unconnected wire)
- analog input source:   ``volts() -> float``            (ADC input)

``pull`` is ``None``, ``"UP"`` or ``"DOWN"``, or an object whose ``name`` is one of those (the simulated
``digitalio.Pull`` values).
"""

from __future__ import annotations

import math
import random
from typing import Protocol

from ether_lite.sim.thermal import Clocked, ThermalMass


class World(Clocked, Protocol):
    """What a model reads of its bench (:class:`ether_lite.sim.bench.Bench`): time, heater power, the room's
    thermal mass, and a random stream of its own."""

    thermal: ThermalMass

    def rng(self, name: str) -> random.Random: ...


def _pull_name(pull: object) -> object:
    return None if pull is None else getattr(pull, "name", pull)


class Thermometer:
    """Reads the bench's thermal mass with Gaussian noise and a slow linear drift.

    ``noise_c`` is the standard deviation of each reading, ``drift_c_per_h`` how far the sensor's offset
    walks per hour of bench time, ``offset_c`` a fixed calibration error.
    """

    def __init__(self, bench: World, noise_c: float = 0.05, drift_c_per_h: float = 0.2, offset_c: float = 0.0,
                 name: str = "thermometer") -> None:
        self.bench = bench
        self.noise_c = float(noise_c)
        self.drift_c_per_h = float(drift_c_per_h)
        self.offset_c = float(offset_c)
        self._rng = bench.rng(name)
        self.reads = 0

    def true_celsius(self) -> float:
        return self.bench.thermal.celsius

    def drift_c(self) -> float:
        return self.drift_c_per_h * self.bench.now() / 3600.0

    @property
    def celsius(self) -> float:
        self.reads += 1
        noise = self._rng.gauss(0.0, self.noise_c) if self.noise_c > 0 else 0.0
        return self.true_celsius() + self.offset_c + self.drift_c() + noise


class Heater:
    """A heater (or lamp) of ``watts`` at full power whose power warms the bench's thermal mass.

    Driven through a relay pin (``drive(True)`` is full power) or directly with :meth:`set_power`
    (0.0 .. 1.0). ``switches`` counts on/off transitions.
    """

    def __init__(self, bench: World, watts: float = 20.0, slot: int = 0) -> None:
        self.bench = bench
        self.watts = float(watts)
        self.slot = slot
        self.power = 0.0
        self.switches = 0  # the bus slot is written on the first set_power: a board that only carries an
        # idle heater model must not switch off another board's heater sharing the world

    @property
    def on(self) -> bool:
        return self.power > 0.0

    def set_power(self, fraction: float) -> None:
        fraction = float(fraction)
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"heater power is a fraction 0.0..1.0, got {fraction!r}")
        self.bench.thermal.update()  # the old power applies up to now
        if (fraction > 0.0) != self.on:
            self.switches += 1
        self.power = fraction
        self.bench.power_bus.set(self.slot, fraction * self.watts)

    def drive(self, level: bool) -> None:
        self.set_power(1.0 if level else 0.0)


class Led:
    """An LED on an output pin; remembers its level and how many times it changed."""

    def __init__(self) -> None:
        self.on = False
        self.changes = 0

    def drive(self, level: bool) -> None:
        level = bool(level)
        if level != self.on:
            self.changes += 1
        self.on = level


class Button:
    """A push button between the pin and ground, as on most boards: with ``Pull.UP`` it reads
    ``False`` while pressed. ``active_high=True`` models a button to 3V3 read with ``Pull.DOWN``."""

    def __init__(self, active_high: bool = False) -> None:
        self.pressed = False
        self.active_high = active_high

    def press(self) -> None:
        self.pressed = True

    def release(self) -> None:
        self.pressed = False

    def sense(self, pull: object) -> bool:
        pull = _pull_name(pull)
        if self.pressed:
            return self.active_high
        if pull == "UP":
            return True
        if pull == "DOWN":
            return False
        return not self.active_high  # floating: the idle level of its wiring


class AnalogSource:
    """A voltage on an ADC pin: a constant (``set_volts``), plus an optional sine wave and noise,
    all on the bench clock. Values are clamped to 0 .. ``reference_volts`` like a real ADC."""

    def __init__(self, bench: World, volts: float = 1.65, amplitude_v: float = 0.0, period_s: float = 10.0,
                 noise_v: float = 0.0, reference_volts: float = 3.3, name: str = "adc") -> None:
        self.bench = bench
        self.offset_v = float(volts)
        self.amplitude_v = float(amplitude_v)
        self.period_s = float(period_s)
        self.noise_v = float(noise_v)
        self.reference_volts = float(reference_volts)
        self._rng = bench.rng(name)

    def set_volts(self, volts: float) -> None:
        self.offset_v = float(volts)
        self.amplitude_v = 0.0

    def volts(self) -> float:
        v = self.offset_v
        if self.amplitude_v:
            v += self.amplitude_v * math.sin(2.0 * math.pi * self.bench.now() / self.period_s)
        if self.noise_v:
            v += self._rng.gauss(0.0, self.noise_v)
        return min(max(v, 0.0), self.reference_volts)


class Wire:
    """A pin with nothing on it: an output holds its level, an input follows its pull (or the last level)."""

    def __init__(self) -> None:
        self.level = False

    def drive(self, level: bool) -> None:
        self.level = bool(level)

    def sense(self, pull: object) -> bool:
        pull = _pull_name(pull)
        if pull == "UP":
            return True
        if pull == "DOWN":
            return False
        return self.level
