"""An emulated microcontroller: MicroPython firmware on a Cortex-M3 (QEMU ``mps2-an385``), its UART on a pty.

QEMU runs the firmware (hil/qemu_firmware.py) with ``-serial pty``: the board's only serial line, the
REPL's, appears as a pty whose name QEMU prints. The board has no filesystem and no ``main.py``, so
:meth:`QemuBoard.boot` starts the program as a user would with ``mpremote``: Ctrl-C, Ctrl-A (the raw
REPL answers ``raw REPL; CTRL-B to exit``), the program's text, Ctrl-D; after ``OK`` the line is the
program's (for ether_lite, ``link="stdio"``: frames both ways).

``machine.reset()`` makes the port exit QEMU (a semihosting exit). :meth:`QemuBoard.watch` then boots
the board again, as the board's own reset would, on a new pty (like a USB board that comes back on another
port), and reports the new path. Every QEMU process is stopped by its own PID.

    python -m hil.qemu_board [ID]          # the conformance device on an emulated board; prints its link
    ether bridge "cmd:python -m hil.qemu_board --stdio ID"     # the same, its stdin/stdout the link
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

MACHINE = "mps2-an385"
RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"
BOOT_TIMEOUT_S = 20.0  # QEMU's start and the REPL's answers; seconds on a loaded machine, not more
_PTY_LINE = re.compile(rb"char device redirected to (/dev/pts/\d+)")
_log = logging.getLogger("ether.hil.qemu")


class BoardError(RuntimeError):
    """The emulated board did not boot or did not take the program (the message says what it printed)."""


def qemu_command(firmware: Path, serial: str = "pty") -> list[str]:
    return ["qemu-system-arm", "-machine", MACHINE, "-nographic", "-monitor", "null", "-semihosting",
            "-bios", "none", "-serial", serial, "-kernel", str(firmware)]


def device_program(device_id: str, module: str = "conformance", cls: str = "Thermometer") -> str:
    """The program that serves a frozen device class over the REPL's line."""
    return (f"from {module} import {cls}\nfrom ether_lite import run\n"
            f"run({cls}(), link='stdio', device_id={device_id!r})\n")


class QemuBoard:
    """One emulated board running ``program`` (Python source, sent over the raw REPL at every boot)."""

    def __init__(self, firmware: Path, program: str) -> None:
        self.firmware = firmware
        self.program = program
        self.proc: subprocess.Popen[bytes] | None = None
        self.path = ""  # the UART's pty of the current boot
        self.boots = 0
        self.boot_s: list[float] = []  # QEMU start to the program running, per boot
        self.fd: int | None = None  # our end of the pty (non-blocking) from boot() until handed_over()
        self._dir = tempfile.mkdtemp(prefix="ether-qemu-")
        self._lock = threading.Lock()
        self._stopping = False
        self._watcher: threading.Thread | None = None
        self.error: BaseException | None = None  # why a reboot failed (watch)

    # -- one boot -----------------------------------------------------------------------------------------
    def boot(self) -> str:
        """Start QEMU and the program; return the UART's pty path. Our end of the pty stays open until
        :meth:`handed_over` (so the line never looks unplugged to QEMU before the next user opened it)."""
        t0 = time.monotonic()
        log_path = os.path.join(self._dir, f"qemu-{self.boots}.log")
        with open(log_path, "wb") as log, self._lock:
            if self._stopping:
                raise BoardError("the board is stopping")
            self.proc = subprocess.Popen(qemu_command(self.firmware), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = t0 + BOOT_TIMEOUT_S
        self.path = self._pty_path(log_path, deadline)
        fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.fd = fd
        tty.setraw(fd, termios.TCSANOW)
        # QEMU (7.2) drops what the board writes, and does not read what we write, until it notices that
        # somebody opened the pty: it looks once a second. So a boot takes up to a second longer.
        os.write(fd, b"\r\x03\x03\x01")  # interrupt whatever runs, then the raw REPL
        read_until(fd, RAW_PROMPT, deadline, "the raw REPL prompt")
        os.write(fd, self.program.encode() + b"\x04")
        read_until(fd, b"OK", deadline, "OK for the program")  # 1 byte at a time: the rest is the program's
        self.boots += 1
        self.boot_s.append(time.monotonic() - t0)
        _log.info("board booted (%d) in %.2f s, UART on %s, QEMU pid %d", self.boots, self.boot_s[-1],
                  self.path, self.proc.pid if self.proc else 0)
        return self.path

    def handed_over(self) -> None:
        """Close our end of the pty (the new user opened its own)."""
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None

    def _pty_path(self, log_path: str, deadline: float) -> str:
        while time.monotonic() < deadline:
            text = Path(log_path).read_bytes()
            if m := _PTY_LINE.search(text):
                return m.group(1).decode()
            assert self.proc is not None
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise BoardError(f"QEMU exited ({code}) before it made the pty: {text[-400:]!r}")
            time.sleep(0.01)
        raise BoardError(f"QEMU did not say where the UART is within {BOOT_TIMEOUT_S:g} s")

    # -- resets ---------------------------------------------------------------------------------------------
    def watch(self, rebooted: Callable[[str], None]) -> None:
        """Boot again whenever QEMU exits (``machine.reset()``), calling ``rebooted(path)`` each time, then
        :meth:`handed_over`. A failed boot ends the watch with :attr:`error` set."""
        self._watcher = threading.Thread(target=self._watch, args=(rebooted,), name="qemu-board", daemon=True)
        self._watcher.start()

    def _watch(self, rebooted: Callable[[str], None]) -> None:
        while True:
            proc = self.proc
            if proc is None:
                return
            proc.wait()
            with self._lock:
                if self._stopping:
                    return
            _log.info("board's QEMU (pid %d) exited (%s): a reset; booting again", proc.pid, proc.returncode)
            try:
                path = self.boot()
                rebooted(path)
            except BaseException as exc:  # reported through .error, and the board stays down
                self.error = exc
                self.handed_over()
                return
            self.handed_over()

    def stop(self) -> None:
        """Stop QEMU by its PID (and the watcher). Never raises."""
        with self._lock:
            self._stopping = True
            proc = self.proc
        if proc is not None:
            _stop_process(proc)
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(BOOT_TIMEOUT_S + 5)
        with self._lock:  # a boot that raced the stop
            if self.proc is not None:
                _stop_process(self.proc)
        self.handed_over()
        for name in os.listdir(self._dir):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self._dir, name))
        with contextlib.suppress(OSError):
            os.rmdir(self._dir)


def read_until(fd: int, want: bytes, deadline: float, what: str, chunk: int = 1) -> bytes:
    """Read ``fd`` (non-blocking) until ``want`` arrived, ``chunk`` bytes at a time (1: nothing after ``want``
    is taken from the line); what was read. Raises BoardError with the tail of it at ``deadline``."""
    seen = bytearray()
    while want not in seen[-len(want) - chunk:]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise BoardError(f"no {what} within the time; the board said {bytes(seen[-300:])!r}")
        if select.select([fd], [], [], min(left, 0.1))[0]:
            with contextlib.suppress(BlockingIOError):
                seen += os.read(fd, chunk)
    return bytes(seen)


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(3)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def relay(board: QemuBoard) -> None:
    """Copy this process's stdin to the booted board's UART and its UART to stdout, until stdin ends; after a
    reset, the board's new pty. (``cmd:`` links: the bridge talks to the board through this process.)"""
    assert board.path
    uart = [os.open(board.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)]
    board.handed_over()
    lock = threading.Lock()

    def rebooted(path: str) -> None:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        with lock:
            os.close(uart[0])
            uart[0] = fd

    board.watch(rebooted)
    while True:
        with lock:
            fd = uart[0]
        ready = select.select([0, fd], [], [], 0.1)[0]
        if 0 in ready:
            data = os.read(0, 4096)
            if not data:
                return
            with contextlib.suppress(OSError):  # the board is resetting: lost, as on a wire
                os.write(fd, data)
        if fd in ready:
            try:
                os.write(1, os.read(fd, 4096))
            except (BlockingIOError, OSError):  # EIO: QEMU ended (a reset); the watcher boots it again
                time.sleep(0.01)


def command(device_id: str) -> list[str]:
    """The command that runs the conformance device on an emulated board, its stdin/stdout the link."""
    return [sys.executable, "-m", "hil.qemu_board", "--stdio", device_id]


def main(argv: list[str]) -> int:
    """Run the conformance device on an emulated board until Ctrl-C (or SIGTERM); print the link to attach
    to, or with ``--stdio`` be the link (stdin/stdout)."""
    from hil.qemu_firmware import firmware_or_reason

    stdio = "--stdio" in argv
    argv = [a for a in argv if a != "--stdio"]
    firmware, why = firmware_or_reason()
    if firmware is None:
        print(f"no firmware: {why}", file=sys.stderr)
        return 1
    device_id = argv[0] if argv else "qemu-board"
    board = QemuBoard(firmware, device_program(device_id))
    # SIGTERM, and SIGINT even when started in the background, end in the finally below (QEMU stopped)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        board.boot()
        if stdio:
            relay(board)
            return 0
        print(f"serial://{board.path}  (device {device_id!r}; Ctrl-C stops the board)", flush=True)
        board.handed_over()
        board.watch(lambda path: print(f"reset: now on serial://{path}", flush=True))
        while board.error is None:
            time.sleep(0.5)
        print(f"the board did not come back: {board.error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        board.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
