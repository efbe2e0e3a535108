"""A simulated board as a link: ``sim:package.module:ClassName``.

The class's device code runs under CPython against simulated hardware, in a child process started as
``ether sim SPEC --link stdio`` (:func:`sim_command`); its stdin/stdout is the link (a
:class:`~ether_medium.bridge.links.cmd.CommandLink`), or a pseudo-terminal with ``?link=pty``. Options of
the simulated board go after the ``?`` too: ``sim:thermo:Thermometer?world=ether_data/world.bin&tau=8``.
They are the ones :data:`BOARD_OPTIONS` lists, which ``ether sim`` offers as ``--world``, ``--tau``, ...
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from urllib.parse import parse_qs, urlencode

from ether_medium.bridge.links import LinkContext
from ether_medium.bridge.links.cmd import CommandLink
from ether_medium.errors import LinkURLError

__all__ = ["BOARD_OPTIONS", "SimLink", "add_board_options", "create", "sim_command"]

# The simulated board's options: name -> (type, default, metavar, help). ``ether sim`` has each as --NAME.
BOARD_OPTIONS: dict[str, tuple[type, object, str | None, str]] = {
    "baud": (int, None, None, "pace writes like a UART of this speed (10 bits per byte); default: unpaced"),
    "world": (
        str,
        None,
        "FILE",
        "a file shared by simulated boards: a heater in one warms the thermometer in another",
    ),
    "seed": (int, 0, None, "seed of the sensor noise (default 0)"),
    "ambient": (float, 22.0, "CELSIUS", "room temperature of the simulated thermal mass (default 22.0)"),
    "tau": (
        float,
        30.0,
        "SECONDS",
        "thermal time constant: how fast the thermometer follows the heater (default 30.0; smaller is "
        "faster)",
    ),
    "heater-watts": (
        float,
        20.0,
        "WATTS",
        "full power of the simulated heater on D5; 0.5 degC per watt at steady state (default 20.0)",
    ),
}


def add_board_options(parser: argparse.ArgumentParser) -> None:
    """``--baud``, ``--world``, ... on a command line (``ether sim``)."""
    for name, (kind, default, metavar, text) in BOARD_OPTIONS.items():
        parser.add_argument(f"--{name}", type=kind, default=default, metavar=metavar, help=text)


def _board_argv(spec: str, query: str) -> list[str]:
    """``world=w.bin&tau=8`` -> ``["--world", "w.bin", "--tau", "8"]``, each checked (name and value)."""
    argv: list[str] = []
    for key, values in parse_qs(query, keep_blank_values=True).items():
        name = key.replace("_", "-")
        if name not in BOARD_OPTIONS:
            raise LinkURLError(
                f"sim:{spec}?{query}",
                f"{key!r} is not an option of a simulated board; use link, " + ", ".join(BOARD_OPTIONS),
            )
        kind = BOARD_OPTIONS[name][0]
        try:
            kind(values[-1])
        except ValueError:
            raise LinkURLError(
                f"sim:{spec}?{query}",
                f"{key}={values[-1]!r} is not {'an' if kind is int else 'a'} {kind.__name__}",
            ) from None
        argv += [f"--{name}", values[-1]]
    return argv


def sim_command(spec: str, device_id: str | None = None) -> list[str]:
    """The command that runs ``module:Class`` (options after a ``?``) as a simulated device on stdin/stdout.

    That is ``ether sim SPEC --link stdio`` (simulated board modules, ``examples/devices`` on the path);
    in an installation without the simulator, plain ``ether_lite.run`` of the class under CPython.
    Raises :class:`LinkURLError` for a spec that is not ``package.module:ClassName`` or a bad option.
    """
    spec, _, query = spec.partition("?")
    module, sep, cls = spec.rpartition(":")
    if not sep or not module or not cls.isidentifier():
        raise LinkURLError(f"sim:{spec}", "expected sim:package.module:ClassName")
    if importlib.util.find_spec("ether_lite.sim") is not None:
        argv = [sys.executable, "-m", "ether_medium.cli", "sim", spec, "--link", "stdio"]
        return argv + _board_argv(spec, query) + (["--id", device_id] if device_id else [])
    if query:
        raise LinkURLError(f"sim:{spec}?{query}", "board options need the simulator (ether_lite.sim)")
    kwargs = f"device_id={device_id!r}" if device_id else f"device_id={cls.lower()!r}"
    code = (
        "import importlib, ether_lite\n"
        f"cls = getattr(importlib.import_module({module!r}), {cls!r})\n"
        f"ether_lite.run(cls(), link='stdio', {kwargs})\n"
    )
    return [sys.executable, "-c", code]


def create(url: str, context: LinkContext) -> SimLink:
    """The ``sim:`` scheme: the simulated board reports ``context.device_id``, else ``sim-<device>``."""
    return SimLink(url, context.device_id or (f"sim-{context.device}" if context.device else None))


class SimLink(CommandLink):
    """``sim:module:Class``: the class's device code under CPython with simulated hardware.
    ``sim:module:Class?link=pty`` attaches it over a pseudo-terminal instead of pipes."""

    def __init__(self, url: str, device_id: str | None = None) -> None:
        spec, _, query = url.partition(":")[2].strip().partition("?")
        options = parse_qs(query, keep_blank_values=True)
        link = options.pop("link", ["stdio"])[-1]
        if link not in ("stdio", "pty"):
            raise LinkURLError(url, f"link={link}: a sim link is link=stdio (pipes, the default) or link=pty")
        try:
            argv = sim_command(spec + ("?" + urlencode(options, doseq=True) if options else ""), device_id)
        except LinkURLError as exc:
            raise LinkURLError(url, exc.expected) from exc
        super().__init__(url, argv, pty=link == "pty")
