"""Subcommands of the ``ether`` command, one module each (see :mod:`ether_medium.cli`)."""
