"""Devices under test: how the suite starts (or attaches) each one and where the bridge finds it.

Simulated devices run in a child process and always sit behind the link fault injector (with no faults
unless a test sets them), so every simulated device is reached the same way: a pty path for the bridge.

- ``cpython``: ``hil/devices/serve.py`` under CPython, its stdin/stdout a pty;
- ``micropython``: the same file under the MicroPython WebAssembly port in node (ether_lite's
  ``tests/micropython/run.mjs --stdio-link``), its stdin/stdout pipes;
- ``circuitpython``: ``hil/devices/conformance.py`` as ``code.py`` on a drive ``ether deploy`` wrote, run
  by CircuitPython 10.2.1's unix port (``hil.circuitpython``), its stdin/stdout (``usb_cdc.data``) pipes;
- ``qemu``: a microcontroller: the conformance device frozen into MicroPython firmware on an emulated
  Cortex-M3 (hil/qemu_board.py), started over its raw REPL and served over the REPL's own line
  (``link="stdio"``); the injector opens the board's UART pty, the bridge a pty through pyserial;
- ``board``: a real board at the link given with ``--hil-link`` (no child process, no injector).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import tty
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hil.faults import StreamFaultProxy

if TYPE_CHECKING:
    from hil.qemu_board import QemuBoard

ROOT = Path(__file__).resolve().parent.parent
MP_RUNNER = ROOT / "tests" / "micropython" / "run.mjs"  # ether_lite's runner of real MicroPython under node
MP_PACKAGE = ROOT / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"


def micropython_missing() -> str | None:
    """Why the MicroPython device cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed (the MicroPython device runs under node)"
    if not MP_PACKAGE.exists():
        return f"{MP_PACKAGE.relative_to(ROOT)} is missing: run `make deps` (npm install)"
    if not MP_RUNNER.exists():
        return f"{MP_RUNNER.relative_to(ROOT)} is missing"
    return None


def cpython_command(device_id: str) -> list[str]:
    """The conformance device under CPython, its stdin/stdout the link."""
    return [sys.executable, "-m", "hil.devices.serve", "--id", device_id]


def micropython_command(device_id: str) -> list[str]:
    """The same device file under MicroPython (WebAssembly port in node), its stdin/stdout the link."""
    return ["node", str(MP_RUNNER), "--copy", f"{ROOT / 'ether_lite'}=/lib/ether_lite",
            "--copy", f"{ROOT / 'hil' / 'devices'}=/lib/hil/devices", "--stdio-link",
            str(ROOT / "hil" / "devices" / "serve.py"), "--id", device_id]


def device_command(target: Target, device_id: str) -> list[str]:
    """The command that runs the simulated device ``target`` (its stdin/stdout the link)."""
    if target.name == "circuitpython":
        from hil import circuitpython

        assert target.drive is not None
        return circuitpython.command(target.drive, device_id)
    if target.name == "qemu":
        from hil.qemu_board import command as qemu_command

        return qemu_command(device_id)
    return cpython_command(device_id) if target.name == "cpython" else micropython_command(device_id)


@dataclass
class Target:
    """One device under test. ``link`` is what the bridge opens; ``proxy`` is None for a real board."""

    name: str  # "cpython", "micropython", "qemu", "board"
    link: str
    proxy: StreamFaultProxy | None = None
    proc: subprocess.Popen[bytes] | None = None
    simulated: bool = True
    drive: Path | None = None  # circuitpython: the drive it runs (a temporary directory, removed by stop)
    board: QemuBoard | None = None  # the emulated board (qemu)
    device_id: str | None = None  # a real board's id (--hil-id): a UDP link beyond loopback needs it
    _fds: list[int] = field(default_factory=list)

    @property
    def tty_path(self) -> str | None:
        """The tty a host opens to talk to the device (None for links that are not a tty)."""
        if self.link.startswith("serial://"):
            return self.link[len("serial://") :].split("?")[0]
        return None

    def stop(self) -> None:
        """Stop what start_target started: the child by its PID, the proxy, our fds. Never raises."""
        if self.board is not None:  # first: it may hand the proxy a new tty while it runs
            self.board.stop()
        if self.proxy is not None:
            self.proxy.close()
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()
        if self.drive is not None:
            shutil.rmtree(self.drive, ignore_errors=True)
            self.drive = None


def start_target(
    name: str, device_id: str, real_link: str | None = None, real_id: str | None = None
) -> Target:
    if name == "board":
        assert real_link is not None
        return Target("board", real_link, simulated=False, device_id=real_id)
    if name == "cpython":
        master, slave = os.openpty()
        tty.setraw(slave)
        target = Target(name, "", _fds=[master, slave])
        try:
            target.proc = subprocess.Popen(cpython_command(device_id), stdin=slave, stdout=slave, cwd=ROOT)
            target.proxy = StreamFaultProxy((master, master), seed=name)
        except BaseException:
            target.stop()
            raise
    elif name in ("micropython", "circuitpython"):
        target = Target(name, "")
        try:
            if name == "circuitpython":
                from hil import circuitpython

                target.drive = circuitpython.make_drive(Path(tempfile.mkdtemp(prefix="ether-circuitpy-")),
                                                        ROOT / "hil" / "devices" / "conformance.py")
            target.proc = subprocess.Popen(device_command(target, device_id), stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE, cwd=ROOT)
            assert target.proc.stdin is not None and target.proc.stdout is not None
            pipes = (target.proc.stdout.fileno(), target.proc.stdin.fileno())
            target.proxy = StreamFaultProxy(pipes, seed=name)
        except BaseException:
            target.stop()
            raise
    elif name == "qemu":
        target = _start_qemu(device_id)
    else:
        raise ValueError(f"unknown HIL target {name!r}: cpython, micropython, circuitpython, qemu or board")
    assert target.proxy is not None
    target.link = f"serial://{target.proxy.bridge_path}"
    return target


def _start_qemu(device_id: str) -> Target:
    """The emulated board, its UART behind the injector; after a reset its new pty replaces the old."""
    from hil.qemu_board import QemuBoard, device_program
    from hil.qemu_firmware import ensure_firmware

    target = Target("qemu", "", board=QemuBoard(ensure_firmware(), device_program(device_id)))
    assert target.board is not None
    try:
        target.proxy = proxy = StreamFaultProxy(target.board.boot(), seed="qemu")
        target.board.handed_over()
        target.board.watch(proxy.replace_device)
    except BaseException:
        target.stop()
        raise
    return target


def open_tty(path: str) -> int:
    """Open a tty raw and non-blocking (for a probe)."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    with contextlib.suppress(OSError):
        tty.setraw(fd)
    return fd

