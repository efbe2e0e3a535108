"""The YAML configuration, parsed into pydantic models with ``extra="forbid"``.

Sections: ``instances`` and ``registry`` (the fabric), ``devices`` (the bridge), ``recording`` (the
recorder), ``logging``, ``fabric`` (transport: local only, TCP for other machines, or joining a fabric
that runs on another machine) and ``errors`` (retries and the error handler of every subscriber). Every
error names the file, the key path and what was expected.

The models are in :mod:`ether_medium.config.sections` and :mod:`ether_medium.config.model`, reading a file in
:mod:`ether_medium.config.load`.
"""

from __future__ import annotations

from ether_medium.config.load import UniqueKeyLoader, load_config, read_config
from ether_medium.config.model import RESERVED_NAMES, EtherConfig
from ether_medium.config.sections import *  # noqa: F403
from ether_medium.config.sections import __all__ as _sections
from ether_medium.errors import ConfigError

__all__ = [
    *_sections, "RESERVED_NAMES", "ConfigError", "EtherConfig", "UniqueKeyLoader", "load_config",
    "read_config",
]
