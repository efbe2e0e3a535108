"""Simulated hardware for running board code on the desktop (CPython only).

ether_lite's device core never imports this package. :func:`install` puts stand-ins for
CircuitPython's ``board``, ``digitalio``, ``analogio``, ``microcontroller`` and ``wifi`` first on
``sys.path`` and wires their pins to small models on a :class:`Bench` (thermometer with noise and
drift, a heater that warms it through a first-order thermal model, an LED, a button, an ADC input).
"""

from ether_lite.sim.bench import Bench, ManualClock, WallClock, current
from ether_lite.sim.install import default_wiring, install, uid_for, uninstall
from ether_lite.sim.models import AnalogSource, Button, Heater, Led, Thermometer, Wire
from ether_lite.sim.thermal import PowerBus, ThermalMass

__all__ = [
    "AnalogSource",
    "Bench",
    "Button",
    "Heater",
    "Led",
    "ManualClock",
    "PowerBus",
    "ThermalMass",
    "Thermometer",
    "WallClock",
    "Wire",
    "current",
    "default_wiring",
    "install",
    "uid_for",
    "uninstall",
]
