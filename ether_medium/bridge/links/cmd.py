"""A child process whose stdin/stdout is the link: ``cmd:COMMAND``.

``cmd:`` runs any command, split like a shell would (no shell involved), its stdin and stdout two pipes.
:class:`CommandLink` can give the child a pseudo-terminal instead (the ``sim:`` scheme,
:mod:`ether_medium.bridge.links.sim`, offers that). The child is the device: when it exits the link is lost
(and the bridge restarts it with backoff, like a board being plugged in again); closing the link stops the
child by its PID.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import tty

from ether_medium.bridge.links import Link, LinkContext
from ether_medium.bridge.links.fd import read_available, write_all
from ether_medium.errors import LinkLost, LinkUnavailable, LinkURLError

__all__ = ["CommandLink", "create"]

_STOP_S = 2.0
_WRITE_TIMEOUT_S = 1.0


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM if the bridge dies without closing the link."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def create(url: str, context: LinkContext) -> CommandLink:
    """The ``cmd:`` scheme."""
    return CommandLink(url)


class CommandLink(Link):
    """``pty=True``: the child's stdin/stdout is a pseudo-terminal in raw mode instead of two pipes, so the
    bytes cross the kernel's tty layer as they do from a board on /dev/ttyACM0."""

    def __init__(self, url: str, argv: list[str] | None = None, pty: bool = False) -> None:
        super().__init__(url)
        if argv is None:
            text = url.partition(":")[2].strip()
            try:
                argv = shlex.split(text)
            except ValueError as exc:
                raise LinkURLError(url, f"cannot split the command: {exc}") from exc
        if not argv:
            raise LinkURLError(url, "empty command; write cmd:COMMAND ARGS")
        self.argv = argv
        self.pty = pty
        self.pty_name: str | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._in = -1
        self._out = -1

    def open(self) -> None:
        self.close()
        master = slave = -1
        if self.pty:
            master, slave = os.openpty()
            tty.setraw(slave)  # a byte link: no echo, no line editing, no CR/LF translation
            self.pty_name = os.ttyname(slave)
        try:
            proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE if slave < 0 else slave,
                stdout=subprocess.PIPE if slave < 0 else slave,
                bufsize=0,
                start_new_session=True,  # Ctrl-C reaches the bridge, which then stops the child in order
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        except OSError as exc:
            if master >= 0:
                os.close(master)
            raise LinkUnavailable(self.url, f"cannot start {self.argv[0]!r}: {exc.strerror}") from exc
        finally:
            if slave >= 0:
                os.close(slave)  # the child has it
        self.proc = proc
        if master >= 0:
            self._in = self._out = master
        else:
            assert proc.stdin is not None and proc.stdout is not None
            self._in = proc.stdin.fileno()
            self._out = proc.stdout.fileno()
        os.set_blocking(self._out, False)
        os.set_blocking(self._in, False)

    @property
    def is_open(self) -> bool:
        return self.proc is not None

    @property
    def where(self) -> str:
        if self.proc is None:
            return self.url
        return f"pid {self.proc.pid}" + (f" on {self.pty_name}" if self.pty else "")

    def fileno(self) -> int:
        return self._out

    def _lost(self, what: str) -> LinkLost:
        code = None
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self.proc.wait(0.2)
        status = "still running" if code is None else f"exit status {code}"
        return LinkLost(self.url, f"{what} (child {self.where}, {status})")

    def read(self) -> bytes:
        if self.proc is None:
            raise LinkLost(self.url, "not open")
        try:
            return read_available(self._out)
        except EOFError:
            raise self._lost("its stdout closed") from None
        except OSError as exc:
            raise self._lost(f"reading its stdout failed: {exc.strerror}") from exc

    def write(self, data: bytes) -> None:
        if self.proc is None:
            raise LinkLost(self.url, "not open")
        try:
            write_all(self._in, data, _WRITE_TIMEOUT_S)
        except TimeoutError as exc:
            raise self._lost(f"its stdin did not take data for {_WRITE_TIMEOUT_S} s") from exc
        except OSError as exc:
            raise self._lost(f"writing its stdin failed: {exc.strerror}") from exc

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.stdout is None and self._out >= 0:
            with contextlib.suppress(OSError):
                os.close(self._out)  # the pty's master end
        self._in = self._out = -1
        if proc is None:
            return
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(_STOP_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
