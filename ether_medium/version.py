"""The versions a run records and ``ether --version`` prints: the package's and the wire protocol's."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
