"""Shared parts of the bridge tests (no tests here): a real ether_lite device in its own CPython process on
its own pty, and a sink that records what a link manager reports.

The device process creates its pty the way ``socat`` or ``ether sim`` would (raw, no echo), keeps the slave
side open so the host can close and reopen it, and maintains a symlink to it (like
``/dev/serial/by-id/...``): removed on "unplug", pointed at the new pty on "replug". Signals drive it:
SIGUSR1 toggles unplugged/plugged (a new pty each time), SIGUSR2 resets it (a new boot id, same pty).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from conftest import stop_process

from ether_medium.bridge.loop import BridgeLoop
from ether_medium.bridge.manager import LinkManager, Reading

ROOT = Path(__file__).resolve().parents[1]

DEVICE_SCRIPT = r"""
import os, signal, sys, tty
from ether_lite import Node, ether_pub, ether_sub, log
from ether_lite.links.pipe import PipeLink

device_id, link_path, every, version = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
key = os.environ.get("ETHER_TEST_DEVICE_KEY")  # PROTOCOL.md 6.1: a keyed board

class Thermometer:
    def __init__(self):
        self.t = 20.0
        self.on = False

    @ether_pub(every=every)
    def read(self) -> dict:
        self.t += 0.125
        return {"celsius": self.t}

    @ether_pub()
    def led(self) -> dict:
        return {"on": self.on}

    @ether_sub()
    def set_led(self, on: bool):
        self.on = on
        log("led %s" % ("on" if on else "off"))
        self.led()

    @ether_sub()
    def fail(self, why: str):
        raise RuntimeError(why)

flags = {"plug": False, "reset": False}
signal.signal(signal.SIGUSR1, lambda *a: flags.__setitem__("plug", True))
signal.signal(signal.SIGUSR2, lambda *a: flags.__setitem__("reset", True))

def open_pty():
    m, s = os.openpty()
    tty.setraw(s)
    name = os.ttyname(s)
    tmp = link_path + ".tmp"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(name, tmp)
    os.replace(tmp, link_path)
    print("PTY " + name, flush=True)
    return m, s

thermo = Thermometer()
boot = None

def serve(link):   # a Node on the link until a signal: True after a reset (a new boot), False if unplugged
    global boot
    node = Node(thermo, link, device_id=device_id, boot_id=boot, key=key)
    boot = node.boot_id
    print("BOOT %d" % boot, flush=True)
    node.run(until=lambda: flags["plug"] or flags["reset"])
    node.close()
    if flags["reset"]:
        flags["reset"] = False
        boot = None
        return True
    flags["plug"] = False
    return False

def wait_for_plug():
    while not flags["plug"]:
        signal.pause()
    flags["plug"] = False

if link_path.startswith("udp://"):   # a board on the network: no pty; "unplug" = off the network
    from ether_lite.links import open_link
    while True:
        link = open_link(link_path)
        reset = serve(link)
        link.close()
        if not reset:
            print("UNPLUGGED", flush=True)
            wait_for_plug()
            print("PTY none", flush=True)
m, s = open_pty()
while True:
    if version != 1:   # a device from another release: HELLO of protocol version `version`, then silence
        from ether_lite import cbor, framing, protocol
        body = cbor.dumps([protocol.header(protocol.HELLO, version), device_id, 7, "future", 0, 1 << 30])
        os.write(m, b"\x00" + framing.encode_frame(body))
        link = PipeLink(m, m)
        buf = bytearray(300)
        dec = framing.FrameDecoder()
        while not flags["plug"]:
            link.wait(50)
            n = link.readinto(buf)
            for f in dec.frames(bytes(buf[:n])):
                msg = cbor.loads(f)
                if msg[0] & 15 == protocol.QUERY:
                    os.write(m, framing.encode_frame(body))
        sys.exit(0)
    if serve(PipeLink(m, m)):
        continue
    os.unlink(link_path)
    os.close(m)
    os.close(s)
    print("UNPLUGGED", flush=True)
    wait_for_plug()
    if os.path.exists(link_path + ".next"):  # comes back under another name (another USB port)
        with open(link_path + ".next") as f:
            new_path = f.read().strip()
        os.unlink(link_path + ".next")
        link_path = new_path
    m, s = open_pty()
"""


class ScriptProcess:
    """A helper process, ``python -c SCRIPT ARGS`` run from the checkout, that reports on its stdout one line
    per event; stopped by its own PID."""

    name = "helper process"

    def __init__(
        self, script: str, *args: str, env: dict[str, str] | None = None, stdin: bool = False
    ) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script, *args],
            stdin=subprocess.PIPE if stdin else None,
            stdout=subprocess.PIPE,
            env=dict(os.environ, PYTHONPATH=str(ROOT)) if env is None else env,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        self._out = self.proc.stdout.fileno()
        self._buf = b""

    def on_line(self, text: str) -> None:
        """Called with every line the process prints."""

    def line(self, timeout_s: float) -> str | None:
        """The next line the process prints, or None when none came within ``timeout_s`` or it ended."""
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self._out], [], [], left)
            if r:
                data = os.read(self._out, 65536)
                if not data:
                    return None
                self._buf += data
        line, self._buf = self._buf.split(b"\n", 1)
        text = line.decode()
        self.on_line(text)
        return text

    def expect(self, prefix: str, timeout_s: float = 10.0) -> str:
        """The rest of the next line that starts with ``prefix`` (lines before it are skipped)."""
        deadline = time.monotonic() + timeout_s
        while True:
            text = self.line(max(0.0, deadline - time.monotonic()))
            if text is None:
                raise AssertionError(f"{self.name} did not print {prefix!r} (exit {self.proc.poll()})")
            if text.startswith(prefix):
                return text[len(prefix) :]

    def stop(self) -> None:
        stop_process(self.proc, 3.0)
        for f in (self.proc.stdin, self.proc.stdout):
            if f is not None:
                f.close()


class DeviceProcess(ScriptProcess):
    """An ether_lite Thermometer in its own process on a pty, reachable through ``link_path``."""

    def __init__(
        self,
        link_path: Path | str,
        device_id: str,
        every_s: float = 0.05,
        version: int = 1,
        key: str | None = None,
    ) -> None:
        self.link_path = link_path
        self.device_id = device_id
        self.name = f"device {device_id}"
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        env.pop("ETHER_TEST_DEVICE_KEY", None)
        if key is not None:
            env["ETHER_TEST_DEVICE_KEY"] = key
        super().__init__(DEVICE_SCRIPT, device_id, str(link_path), str(every_s), str(version), env=env)
        self.pty = "none" if str(link_path).startswith("udp://") else self.expect("PTY ")
        self.boot_id = int(self.expect("BOOT ")) if version == 1 else None

    @property
    def url(self) -> str:
        return f"serial://{self.link_path}"

    def unplug(self) -> None:
        os.kill(self.proc.pid, signal.SIGUSR1)
        self.expect("UNPLUGGED")

    def replug(self, link_path: Path | None = None) -> str:
        """Plug in again on a new pty, under ``link_path`` if given (another port name)."""
        if link_path is not None:
            (Path(str(self.link_path) + ".next")).write_text(str(link_path))
            self.link_path = link_path
        os.kill(self.proc.pid, signal.SIGUSR1)
        self.pty = self.expect("PTY ")
        self.expect("BOOT ")
        return self.pty

    def reset(self) -> int:
        os.kill(self.proc.pid, signal.SIGUSR2)
        self.boot_id = int(self.expect("BOOT "))
        return self.boot_id



@contextlib.contextmanager
def device(tmp_path: Path, name: str, **kw: Any) -> Iterator[DeviceProcess]:
    dev = DeviceProcess(tmp_path / name, **kw)
    try:
        yield dev
    finally:
        dev.stop()


class RecordingSink:
    """Records what link managers report; tests wait on it with a deadline."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.events: list[tuple[str, Any]] = []
        self.pubs: list[tuple[str, str, dict[str, Any], Reading]] = []

    def _add(self, kind: str, value: Any) -> None:
        with self.cond:
            self.events.append((kind, value))
            self.cond.notify_all()

    def attached(self, mgr: LinkManager) -> None:
        assert mgr.info is not None
        self._add("attached", (mgr.name, mgr.info.device_id, mgr.info.boot_id, mgr.link.where))

    def detached(self, mgr: LinkManager, reason: str) -> None:
        self._add("detached", (mgr.name, reason))

    def publish(self, mgr: LinkManager, ep: Any, data: dict[str, Any], reading: Reading) -> None:
        with self.cond:
            self.pubs.append((mgr.name, ep.topic, data, reading))
            self.cond.notify_all()

    def device_log(self, mgr: LinkManager, level: int, text: str) -> None:
        self._add("log", (mgr.name, level, text))

    def wait(self, pred: Callable[[], bool], timeout_s: float = 10.0, what: str = "") -> None:
        """Wait until ``pred()``; it is checked on every event and every 20 ms (it may look at state the
        loop thread changes without an event, such as counters)."""
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what or pred}; events: {self.events[-10:]}")
                self.cond.wait(min(left, 0.02))

    def count(self, kind: str, name: str | None = None) -> int:
        return sum(1 for k, v in self.events if k == kind and (name is None or v[0] == name))

    def pubs_of(self, name: str, topic: str | None = None) -> list[dict[str, Any]]:
        return [d for n, t, d, _ in self.pubs if n == name and (topic is None or t == topic)]


class LoopThread:
    """A BridgeLoop running in a background thread; :meth:`call` runs a function on the loop's thread."""

    def __init__(self, *managers: LinkManager) -> None:
        self.loop = BridgeLoop()
        for m in managers:
            self.loop.add(m)
        self.thread = threading.Thread(target=self.loop.run, daemon=True)

    def call(self, fn: Callable[[], Any], timeout_s: float = 5.0) -> Any:
        ev = threading.Event()
        out: list[Any] = []

        def run() -> None:
            try:
                out.append(fn())
            finally:
                ev.set()

        self.loop.call_soon(run)
        assert ev.wait(timeout_s), "loop thread did not run the call"
        return out[0]

    def __enter__(self) -> LoopThread:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.stop()
        self.thread.join(5)
        self.loop.close()


SCRIPTED_SCRIPT = r"""
import os, select, sys, tty, time
from ether_lite import cbor, framing, protocol

m, s = os.openpty()
tty.setraw(s)
print("PTY " + os.ttyname(s), flush=True)
on_query = []
drop = 0  # DELIVERs to ignore before acknowledging again
acks = False  # acknowledge DELIVERs (status 0)
dec = framing.FrameDecoder()
t0 = time.monotonic()
inp = sys.stdin.buffer.raw
pending = b""
while True:
    r, _, _ = select.select([m, inp], [], [])
    if inp in r:
        chunk = os.read(inp.fileno(), 65536)
        if not chunk:
            break
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            cmd, _, arg = line.decode().partition(" ")
            if cmd == "W":
                os.write(m, bytes.fromhex(arg))
            elif cmd == "Q":
                on_query.append(bytes.fromhex(arg))
            elif cmd == "A":
                acks, drop = True, int(arg or "0")
            print("OK", flush=True)
    if m in r:
        for body in dec.frames(os.read(m, 4096)):
            msg = cbor.loads(body)
            print("R " + body.hex(), flush=True)
            k = msg[0] & 15
            if k == protocol.QUERY:
                for f in on_query:
                    os.write(m, f)
            elif k == protocol.DELIVER and acks:
                if drop:
                    drop -= 1
                else:
                    os.write(m, framing.encode_frame(cbor.dumps(protocol.ack(msg[2], 0))))
            elif k == protocol.PING:
                ticks = int((time.monotonic() - t0) * 1000) & ((1 << 30) - 1)
                os.write(m, framing.encode_frame(cbor.dumps(protocol.pong(msg[1], ticks))))
"""


class ScriptedDevice(ScriptProcess):
    """A device process that writes exactly the bytes a test gives it (built with ether_lite's own
    framing and codec), answers QUERY with a scripted HELLO/DESCRIBE set and PING with PONG, and reports
    every frame it receives from the host."""

    name = "scripted device"

    def __init__(self) -> None:
        self.received: list[list[Any]] = []
        super().__init__(SCRIPTED_SCRIPT, stdin=True)
        self.pty = self.expect("PTY ")

    @property
    def url(self) -> str:
        return f"serial://{self.pty}"

    def on_line(self, text: str) -> None:
        if text.startswith("R "):
            import cbor2

            self.received.append(cbor2.loads(bytes.fromhex(text[2:])))

    def _cmd(self, cmd: str, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{cmd} {data.hex()}\n".encode())
        self.proc.stdin.flush()
        self.expect("OK")

    def write(self, data: bytes) -> None:
        self._cmd("W", data)

    def send(self, msg: list[Any]) -> None:
        from ether_lite import cbor, framing

        self.write(framing.encode_frame(cbor.dumps(msg)))

    def on_query(self, *msgs: list[Any]) -> None:
        from ether_lite import cbor, framing

        for msg in msgs:
            self._cmd("Q", framing.encode_frame(cbor.dumps(msg)))

    def ack_deliveries(self, drop_first: int = 0) -> None:
        """From now on acknowledge DELIVERs, after ignoring the next ``drop_first`` of them."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"A {drop_first}\n".encode())
        self.proc.stdin.flush()
        self.expect("OK")

    def wait_received(self, kind: int, timeout_s: float = 5.0) -> list[Any]:
        """The next frame of ``kind`` the host sends (earlier ones are skipped)."""
        deadline = time.monotonic() + timeout_s
        while True:
            for i, msg in enumerate(self.received):
                if msg[0] & 15 == kind:
                    del self.received[: i + 1]
                    return msg
            self.received.clear()
            left = deadline - time.monotonic()
            if left <= 0 or self.line(left) is None:
                raise AssertionError(f"host sent no frame of kind {kind}")

@contextlib.contextmanager
def scripted_device() -> Iterator[ScriptedDevice]:
    dev = ScriptedDevice()
    try:
        yield dev
    finally:
        dev.stop()


try:  # a device class for sim: links (imported by the simulated device's own process)
    from ether_lite import ether_pub as _lite_pub
    from ether_lite import ether_sub as _lite_sub

    class SimThermo:
        def __init__(self) -> None:
            self.t = 20.0
            self.on = False

        @_lite_pub(every=0.05)
        def read(self) -> dict[str, float]:
            self.t += 0.5
            return {"celsius": self.t}

        @_lite_sub()
        def set_led(self, on: bool) -> None:
            self.on = on

except ImportError:  # pragma: no cover
    pass
