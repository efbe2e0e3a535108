"""A child process whose stdin/stdout is the link: ``cmd:COMMAND`` and ``sim:module:Class``.

``cmd:`` runs any command (split like a shell would, no shell involved). ``sim:`` runs device code under
CPython against simulated hardware: the same class that goes onto a board, started by
:func:`sim_command`. The child is the device: when it exits the link is lost (and the bridge restarts it
with backoff, like a board being plugged in again); closing the link stops the child by its PID.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shlex
import signal
import subprocess
import sys
import tty
from urllib.parse import parse_qs, urlencode

from ether_medium.bridge.links import Link
from ether_medium.bridge.links.fd import read_available, write_all
from ether_medium.errors import LinkLost, LinkUnavailable

__all__ = ["CommandLink", "SimLink", "sim_command"]

_STOP_S = 2.0
_WRITE_TIMEOUT_S = 1.0


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM if the bridge dies without closing the link."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _sim_options(query: str) -> list[str]:
    """``world=w.bin&tau=8`` -> ``["--world", "w.bin", "--tau", "8"]``, each checked against ``ether sim``."""
    import argparse

    from ether_medium.commands import sim

    parser = argparse.ArgumentParser(prog="ether sim", add_help=False)
    sim.add_arguments(parser)
    known = {o for o in parser._option_string_actions if o not in ("--link", "--id", "--duration")}
    argv: list[str] = []
    for key, values in parse_qs(query, keep_blank_values=True).items():
        option = "--" + key.replace("_", "-")
        if option not in known:
            raise ValueError(
                f"sim link option {key!r} is not an option of ether sim; use "
                + ", ".join(sorted(o[2:] for o in known if o.startswith("--")))
            )
        argv += [option, values[-1]]
    return argv


def sim_command(spec: str, device_id: str | None = None) -> list[str]:
    """The command that runs ``module:Class`` as a simulated device on stdin/stdout.

    That is ``ether sim SPEC --link stdio`` (simulated board modules, ``examples/devices`` on the path);
    in an installation without the simulator, plain ``ether_lite.run`` of the class under CPython.
    Options of ``ether sim`` go after a ``?``: ``thermo:Thermometer?world=ether_data/world.bin&tau=8``.
    """
    spec, _, query = spec.partition("?")
    module, sep, cls = spec.rpartition(":")
    if not sep or not module or not cls.isidentifier():
        raise ValueError(f"sim link {spec!r}: expected sim:package.module:ClassName")
    if importlib.util.find_spec("ether_medium.commands.sim") is not None:
        argv = [sys.executable, "-m", "ether_medium.cli", "sim", spec, "--link", "stdio"]
        return argv + _sim_options(query) + (["--id", device_id] if device_id else [])
    if query:
        raise ValueError(f"sim link options ?{query} need the simulator (ether_medium.commands.sim)")
    kwargs = f"device_id={device_id!r}" if device_id else f"device_id={cls.lower()!r}"
    code = (
        "import importlib, ether_lite\n"
        f"cls = getattr(importlib.import_module({module!r}), {cls!r})\n"
        f"ether_lite.run(cls(), link='stdio', {kwargs})\n"
    )
    return [sys.executable, "-c", code]


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
                raise LinkUnavailable(url, f"cannot split the command: {exc}") from exc
        if not argv:
            raise LinkUnavailable(url, "empty command; write cmd:COMMAND ARGS")
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


class SimLink(CommandLink):
    """``sim:module:Class``: the class's device code under CPython with simulated hardware.
    ``sim:module:Class?link=pty`` attaches it over a pseudo-terminal instead of pipes."""

    def __init__(self, url: str, device_id: str | None = None) -> None:
        spec, _, query = url.partition(":")[2].strip().partition("?")
        options = parse_qs(query, keep_blank_values=True)
        link = options.pop("link", ["stdio"])[-1]
        if link not in ("stdio", "pty"):
            raise LinkUnavailable(
                url, f"link={link}: a sim link is link=stdio (pipes, the default) or link=pty"
            )
        try:
            argv = sim_command(spec + ("?" + urlencode(options, doseq=True) if options else ""), device_id)
        except ValueError as exc:
            raise LinkUnavailable(url, str(exc)) from exc
        super().__init__(url, argv, pty=link == "pty")
