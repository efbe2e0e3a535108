"""ether_lite: the device side of Ether. Runs on CircuitPython, MicroPython and CPython."""

__version__ = "0.1.0"
