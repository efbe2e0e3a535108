"""Ether on the host: a pub/sub fabric over ZeroMQ for lab code and CircuitPython boards.

``from ether_medium import ether, ether_pub, ether_sub, ether_start`` is all the seed examples need.
"""

from ether_medium import errors
from ether_medium.api import Ether, ether
from ether_medium.errors import *  # noqa: F403  (every public error, pinned by tests/test_public_api.py)
from ether_medium.fabric.decorators import (
    ether_cleanup,
    ether_get,
    ether_init,
    ether_pub,
    ether_save,
    ether_shutdown,
    ether_start,
    ether_sub,
)
from ether_medium.version import __version__ as __version__

__all__ = [
    "Ether",
    "ether",
    "ether_cleanup",
    "ether_get",
    "ether_init",
    "ether_pub",
    "ether_save",
    "ether_shutdown",
    "ether_start",
    "ether_sub",
    *errors.__all__,
]
