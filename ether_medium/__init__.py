"""Ether on the host: a pub/sub fabric over ZeroMQ for lab code and CircuitPython boards."""

__version__ = "0.1.0"
