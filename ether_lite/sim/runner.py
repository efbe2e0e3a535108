"""Run device code on the desktop: simulated board modules, ether_lite, and a real byte link.

``serve("thermo:Thermometer", link="pty")`` is what ``ether sim`` does. The device is either

- ``module:Class`` (or ``path/to/file.py:Class``): the class is made with no arguments and served with
  ``ether_lite.run``; modules are found in the current directory and ``examples/devices/``;
- a ``code.py``-style file: it runs as ``__main__`` exactly as on a board; its call to
  ``ether_lite.run(..., link="usb_cdc")`` is pointed at the simulator's link instead.

Links: ``"pty"`` (a pseudo-terminal whose path is announced), ``"udp://HOST:PORT"`` (datagrams to the
host), ``"stdio"`` (this process's stdin/stdout, for a parent process; announcements go to stderr).
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

import ether_lite
from ether_lite.sim.bench import Bench, WallClock
from ether_lite.sim.install import default_wiring, install, uid_for
from ether_lite.sim.links import ByteLink, PacedLink, PtyLink
from ether_lite.sim.thermal import PowerBus

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEVICES = os.path.join(REPO, "examples", "devices")
if not os.path.isdir(DEVICES):  # an installed wheel: the example devices ship inside ether_medium (a folder)
    DEVICES = os.path.join(REPO, "ether_medium", "_devices")


class SimError(Exception):
    """The device or link given to the simulator cannot be used; the message says what to do."""


def parse_device(spec: str) -> tuple[str, str, str | None]:
    """``(kind, target, class_name)``: ``("code", path, None)`` or ``("class", module_or_path, name)``."""
    if spec.endswith(".py") and ":" not in os.path.basename(spec):
        if not os.path.isfile(spec):
            raise SimError(f"device {spec!r}: no such file. Give a code.py-style file or module:Class "
                           "(for example thermo:Thermometer)")
        return "code", os.path.abspath(spec), None
    module, sep, name = spec.rpartition(":")
    if not sep or not module or not name.isidentifier():
        raise SimError(f"device {spec!r}: expected a code.py file or module:Class (for example "
                       "thermo:Thermometer or examples/devices/heater.py:Heater)")
    return "class", module, name


def _import_path(extra: list[str]) -> None:
    for d in [DEVICES, os.getcwd(), *extra]:
        if d and d not in sys.path:
            sys.path.insert(1, d)  # after the simulated board modules, which install() put first


def load_class(module: str, name: str) -> Any:
    if module.endswith(".py"):
        path = os.path.abspath(module)
        if not os.path.isfile(path):
            raise SimError(f"device module file {module} does not exist")
        _import_path([os.path.dirname(path)])
        namespace = runpy.run_path(path, run_name=os.path.splitext(os.path.basename(path))[0])
    else:
        _import_path([])
        import importlib

        try:
            namespace = vars(importlib.import_module(module))
        except ModuleNotFoundError as exc:
            raise SimError(f"device module {module!r} not found ({exc}); looked in the current directory "
                           f"and {DEVICES}") from exc
    cls = namespace.get(name)
    if cls is None:
        raise SimError("{} has no {}; it defines: {}".format(module, name, ", ".join(
            sorted(k for k, v in namespace.items() if isinstance(v, type) and not k.startswith("_")))))
    return cls


def open_link(spec: str, baud: int | None = None) -> tuple[ByteLink, str]:
    """The simulator's end of the link (PtyLink, ether_lite's UdpLink, or a PipeLink on stdin/stdout) and
    what to call it in the announcement (``pty /dev/pts/7``, ``udp HOST:PORT, paced at 115200 baud``)."""
    datagram = False
    link: ByteLink
    if spec == "pty":
        pty = PtyLink()
        link, name = pty, pty.describe()
    elif spec.startswith("udp://"):
        from ether_lite.links import udp

        host, port = udp.parse_address(spec[6:])
        link = udp.UdpLink(host, port)
        name = f"udp {host}:{port}"
        datagram = True
    elif spec == "stdio":
        from ether_lite.links.pipe import PipeLink

        out_fd = os.dup(1)
        os.dup2(2, 1)  # print() of the device code must not land in the byte stream
        sys.stdout = sys.stderr
        link = PipeLink(0, out_fd)
        name = "stdin/stdout"
    else:
        raise SimError(f"link {spec!r}: use pty, udp://HOST:PORT or stdio")
    if baud:
        paced = PacedLink(link, baud, datagram=datagram, name=name)
        link, name = paced, paced.describe()
    return link, name


class Stop:
    """``until`` for ``Node.run``: true after ``duration_s`` or on SIGTERM / SIGINT. Device code that
    never reaches ``run()`` (a plain loop in a code.py) is stopped by ``SystemExit`` instead."""

    def __init__(self, duration_s: float | None = None) -> None:
        self.deadline = None if duration_s is None else time.monotonic() + duration_s
        self.stopped = False
        self.polled = False

    def request(self, signum: int = 0, frame: FrameType | None = None) -> None:
        self.stopped = True
        if not self.polled:
            raise SystemExit(0)

    def __call__(self) -> bool:
        self.polled = True
        return self.stopped or (self.deadline is not None and time.monotonic() >= self.deadline)


def default_id(spec: str) -> str:
    _, target, name = parse_device(spec)
    stem = name or os.path.splitext(os.path.basename(target))[0]  # the class name, or a code.py's file stem
    return "sim-" + stem.lower()


def serve(device: str, link: str = "pty", baud: int | None = None, device_id: str | None = None,
          world: str | None = None, seed: int = 0, duration_s: float | None = None,
          announce: Callable[[str], object] | None = None, ambient_c: float = 22.0, tau_s: float = 30.0,
          heater_watts: float = 20.0) -> int:
    """Run ``device`` against the simulated board over ``link`` until SIGTERM/SIGINT or ``duration_s``.

    ``world`` is a file shared with other simulated boards (heater power warms their thermometers).
    ``ambient_c`` and ``tau_s`` are the thermal mass's room temperature and time constant (they matter on
    the board whose thermometer reads it), ``heater_watts`` the full power of this board's heater."""
    kind, target, name = parse_device(device)
    device_id = device_id or default_id(device)
    if announce is None:
        stream = sys.stderr if link == "stdio" else sys.stdout

        def announce(text: str) -> None:
            stream.write(text + "\n")
            stream.flush()

    bench = Bench(seed=seed, clock=WallClock(), uid=uid_for(device_id), ambient_c=ambient_c, tau_s=tau_s,
                  power_bus=PowerBus(world) if world else None)
    default_wiring(bench)
    bench.heater.watts = float(heater_watts)
    install(bench)
    link_obj, link_name = open_link(link, baud)
    stop = Stop(duration_s)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop.request)
    announce(f"ether sim: {device} as device {device_id} on {link_name}")
    try:
        resets = 0
        while not _serve_once(kind, target, name, link_obj, device_id, stop):
            resets += 1  # microcontroller.reset(): the board reboots and runs its code again, same link
            if bench.heater.on:
                bench.heater.set_power(0.0)
            announce(f"ether sim: microcontroller.reset(): restarting {device} (reset {resets})")
    finally:
        link_obj.close()
        if bench.heater.on:  # a stopped board de-energises its relay
            bench.heater.set_power(0.0)
        bench.power_bus.close()
    return 0


def _serve_once(kind: str, target: str, name: str | None, link_obj: ByteLink, device_id: str,
                stop: Stop) -> bool:
    """Run the device code until it ends (True) or calls ``microcontroller.reset()`` (False: run it again,
    freshly imported, as a board does after a reset)."""
    if TYPE_CHECKING:
        from ether_lite.sim.boardmods import microcontroller
    else:
        import microcontroller  # the simulated one (install() put it first on the path)

    try:
        if kind == "class":
            assert name is not None  # parse_device names the class of a "class" device
            ether_lite.run(load_class(target, name)(), link=link_obj, device_id=device_id, until=stop)
        else:
            _run_code(target, link_obj, device_id, stop)
    except microcontroller.SimulatedReset:
        if stop.stopped:
            return True
        microcontroller.cpu.reset_reason = microcontroller.ResetReason.SOFTWARE
        if kind == "class" and not target.endswith(".py"):
            sys.modules.pop(target, None)  # imported afresh, module state and all
        return False
    return True


def _run_code(path: str, link_obj: ByteLink, device_id: str, stop: Stop) -> None:
    """Run a code.py as on a board, with its ``ether_lite.run(...)`` served over the simulator's link."""
    original = ether_lite.run

    def run(*objs: object, link: object = None, device_id: str | None = None,
            until: Callable[[], bool] | None = None, key: bytes | str | None = None) -> ether_lite.Node:
        return original(*objs, link=link_obj, device_id=device_id or default, until=stop, key=key)

    default = device_id
    _import_path([os.path.dirname(path)])
    ether_lite.run = run
    try:
        runpy.run_path(path, run_name="__main__")
    finally:
        ether_lite.run = original
