"""Device code the conformance suite runs against: the same file runs under CPython, MicroPython and
CircuitPython (copy ``conformance.py`` onto a board as ``code.py`` with ether_lite in ``lib/``)."""
