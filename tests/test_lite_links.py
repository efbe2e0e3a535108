"""Every CPython link passes the same conversation test with a real device process: the issue's example
class, run with ``run(obj, link=...)``, over stdin/stdout pipes, a pty opened through pyserial, and UDP on
127.0.0.1. The host side here decodes with ether_lite.framing and cbor2, as the bridge does."""

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import tty
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cbor2
import pytest
from conftest import stop_process

from ether_lite import framing
from ether_lite import protocol as p

ROOT = Path(__file__).resolve().parent.parent

DEVICE = """
import sys
from ether_lite import ether_pub, ether_sub, run

class Thermometer:
    led = None

    @ether_pub(every=0.05)            # topic "Thermometer.read"
    def read(self) -> dict:
        return {"celsius": 21.5}

    @ether_sub()                      # host publishes to "Thermometer.set_led"
    def set_led(self, on: bool):
        self.led = on
        print("led", on)

run(Thermometer(), link=sys.argv[1] if hasattr(sys, "argv") and len(sys.argv) > 1 else "stdio",
    device_id="link-test")
"""


class Host:
    """The host end of one link: raw send/receive, frames decoded with framing + cbor2."""

    def __init__(self, send: Any, recv: Any) -> None:
        self._send = send
        self._recv = recv
        self.dec = framing.FrameDecoder()
        self.inbox: list[list[Any]] = []

    def send(self, msg: list[Any]) -> None:
        self._send(framing.encode_frame(cbor2.dumps(msg, canonical=True)))

    def wait_for(self, kind: int, pred: Any = None, timeout_s: float = 10.0) -> list[Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            for i, m in enumerate(self.inbox):
                if m[0] == kind and (pred is None or pred(m)):
                    return self.inbox.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {p.kind_name(kind)} within {timeout_s} s; got {self.inbox}")
            data = self._recv(left)
            for body in self.dec.frames(data):
                msg = cbor2.loads(body)
                p.check(msg)
                self.inbox.append(msg)


def _spawn(link: str, **kw: Any) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-c", DEVICE, link], env=env, stderr=subprocess.PIPE, **kw)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    stop_process(proc, sig=signal.SIGKILL)


def _fd_recv(fd: int) -> Any:
    def recv(timeout_s: float) -> bytes:
        r, _, _ = select.select([fd], [], [], timeout_s)
        return os.read(fd, 4096) if r else b""

    return recv


def _fd_send(fd: int) -> Any:
    def send(data: bytes) -> None:
        os.write(fd, data)

    return send


def _spawn_micropython(tmp: Path) -> subprocess.Popen[bytes]:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "@micropython").exists():
        pytest.skip("the MicroPython link test needs node and node_modules: run `make deps`")
    script = tmp / "device.py"
    script.write_text(DEVICE)
    return subprocess.Popen(
        [
            node,
            str(ROOT / "tests/micropython/run.mjs"),
            "--stdio-link",
            "--copy",
            f"{ROOT / 'ether_lite'}=/lib/ether_lite",
            str(script),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )


@pytest.fixture(params=["stdio", "pty", "udp", "micropython-stdio"])
def link(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Host, subprocess.Popen[bytes]]]:
    kind = request.param
    if kind in ("stdio", "micropython-stdio"):
        if kind == "stdio":
            proc = _spawn("stdio", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        else:
            proc = _spawn_micropython(tmp_path)
        assert proc.stdin is not None and proc.stdout is not None
        try:
            yield Host(_fd_send(proc.stdin.fileno()), _fd_recv(proc.stdout.fileno())), proc
        finally:
            _stop(proc)
    elif kind == "pty":
        master, slave = os.openpty()
        tty.setraw(master)
        tty.setraw(slave)
        proc = _spawn(os.ttyname(slave))
        try:
            yield Host(_fd_send(master), _fd_recv(master)), proc
        finally:
            _stop(proc)
            os.close(master)
            os.close(slave)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        peer: list[Any] = []

        def recv(timeout_s: float) -> bytes:
            sock.settimeout(timeout_s)
            try:
                data, addr = sock.recvfrom(2048)
            except TimeoutError:
                return b""
            peer[:] = [addr]
            return data

        def send(data: bytes) -> None:
            sock.sendto(data, peer[0])

        proc = _spawn(f"udp://127.0.0.1:{sock.getsockname()[1]}")
        try:
            yield Host(send, recv), proc
        finally:
            _stop(proc)
            sock.close()


def test_link_conversation(link: tuple[Host, subprocess.Popen[bytes]]) -> None:
    host, proc = link
    hello = host.wait_for(p.HELLO)
    assert hello[1] == "link-test" and hello[4] == 2 and hello[5] == 2**30
    d0 = host.wait_for(p.DESCRIBE, lambda m: m[1] == 0)
    d1 = host.wait_for(p.DESCRIBE, lambda m: m[1] == 1)
    assert d0[2:4] == ["Thermometer.read", p.DEVICE_PUBLISHES]
    assert d1[2:4] == ["Thermometer.set_led", p.DEVICE_SUBSCRIBES]
    keywords = d1[4] is None  # MicroPython cannot read a signature: the host sends a keyword map
    assert keywords or d1[4] == [["on", "b"]]
    pub = host.wait_for(p.PUB)
    assert pub[2] == 21.5 and p.unpack_ref(pub[1])[0] == 0
    host.send(p.ping(77))
    pong = host.wait_for(p.PONG)
    assert pong[1] == 77
    host.send(p.deliver(1, 1, [{"on": True}] if keywords else [True]))
    assert host.wait_for(p.ACK)[1:3] == [1, p.ACK_OK]
    long_value = "x" * 200  # a frame longer than any small read buffer (UDP would truncate it)
    host.send(p.deliver(1, 3, [{"on": long_value}] if keywords else [long_value]))
    assert host.wait_for(p.ACK)[1:3] == [3, p.ACK_OK]
    host.send(p.deliver(1, 2, ["not", "one value"]))
    assert host.wait_for(p.ACK)[1:3] == [2, p.ACK_BAD_ARGUMENTS]
    host._send(b"\x05\x01\x02\x00" + b"garbage\x00")  # corrupt frames: counted, device keeps running
    host.send(p.query())
    assert host.wait_for(p.HELLO)[2] == hello[2]  # same boot
    host.send(p.ping(78))
    assert host.wait_for(p.PONG)[1] == 78
    assert proc.poll() is None


@pytest.mark.parametrize("interpreter", ["cpython", "micropython"])
def test_stdio_device_exits_when_host_closes(interpreter: str, tmp_path: Path) -> None:
    if interpreter == "cpython":
        proc = _spawn("stdio", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    else:
        proc = _spawn_micropython(tmp_path)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        host = Host(_fd_send(proc.stdin.fileno()), _fd_recv(proc.stdout.fileno()))
        host.wait_for(p.HELLO)
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0
    finally:
        _stop(proc)
