"""`ether sim` over real links: a pty opened like a serial port, UDP on 127.0.0.1, and UART pacing.

The host side here reads frames with ether_lite.framing and decodes CBOR with cbor2, as the bridge does.
Every process a test starts is stopped by its PID in a finally block.
"""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cbor2
import pytest
import serial

from ether_lite import framing, protocol
from ether_lite.sim.links import PacedLink, PtyLink

ROOT = Path(__file__).resolve().parent.parent


def stdout_line(proc: subprocess.Popen[bytes], timeout_s: float = 30) -> str:
    """The next line of the child's stdout ("" if none came in time). Its stdout is unbuffered (bufsize=0)
    and readline() then reads up to the newline and no further, so select() still sees a line that came
    together with the one before (a buffered reader would have taken it, and select() would wait for more)."""
    assert proc.stdout is not None
    if not select.select([proc.stdout], [], [], timeout_s)[0]:
        return ""
    return proc.stdout.readline().decode()


@contextmanager
def sim_process(*args: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Start `ether sim ARGS`; yield the process and its announcement line."""
    proc = subprocess.Popen([sys.executable, "-m", "ether_medium.cli", "sim", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    try:
        line = stdout_line(proc)
        if not line.startswith("ether sim:"):
            proc.kill()
            _, err = proc.communicate(timeout=20)
            pytest.fail(f"ether sim did not start: {line!r}\n{err.decode(errors='replace')}")
        yield proc, line.strip()
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)


class Host:
    """Reads frames from a byte source until a predicate holds (deadline, never sleeps blindly)."""

    def __init__(self, read: Callable[[], bytes], write: Callable[[bytes], None]) -> None:
        self.read = read
        self.write = write
        self.dec = framing.FrameDecoder()
        self.messages: list[list[Any]] = []

    def kinds(self, kind: int) -> list[list[Any]]:
        return [m for m in self.messages if protocol.kind_of(m[0]) == kind]

    def until(self, pred: Callable[[Host], bool], timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not pred(self):
            if time.monotonic() > deadline:
                pytest.fail(f"timed out; received {self.messages}")
            data = self.read()
            for body in self.dec.frames(data):
                msg = cbor2.loads(body)
                protocol.check(msg)
                self.messages.append(msg)

    def topic(self, name: str) -> int:
        for m in self.kinds(protocol.DESCRIBE):
            if m[2] == name:
                return int(m[1])
        raise AssertionError(f"no DESCRIBE of {name} in {self.kinds(protocol.DESCRIBE)}")

    def pubs(self, name: str) -> list[list[Any]]:
        if not any(m[2] == name for m in self.kinds(protocol.DESCRIBE)):
            return []
        tid = self.topic(name)
        return [m for m in self.kinds(protocol.PUB) if protocol.unpack_ref(m[1])[0] == tid]

    def deliver(self, name: str, msg_id: int, values: list[Any]) -> None:
        body = cbor2.dumps(protocol.deliver(self.topic(name), msg_id, values))
        self.write(framing.encode_frame(body))

    def acked(self, msg_id: int) -> list[Any] | None:
        return next((m for m in self.kinds(protocol.ACK) if m[1] == msg_id), None)


def _pty_host(path: str) -> tuple[Host, serial.Serial]:
    port = serial.Serial(path, timeout=0.05)

    def read() -> bytes:
        return bytes(port.read(port.in_waiting or 1))

    return Host(read, port.write), port


def test_sim_over_pty_hello_describe_pub_and_deliver() -> None:
    with sim_process("thermo:Thermometer", "--link", "pty", "--id", "thermo-1") as (_proc, line):
        m = re.search(r"on pty (/dev/\S+)", line)
        assert m, line
        host, port = _pty_host(m.group(1))
        try:
            host.until(lambda h: bool(h.kinds(protocol.HELLO)) and len(h.kinds(protocol.DESCRIBE)) >= 2)
            hello = host.kinds(protocol.HELLO)[0]
            assert hello[1] == "thermo-1"
            host.until(lambda h: len(h.pubs("Thermometer.read")) >= 2)
            celsius = host.pubs("Thermometer.read")[-1][2]
            assert 20.0 < celsius < 24.0  # the simulated thermometer at room temperature
            host.deliver("Thermometer.set_led", 7, [True])
            host.until(lambda h: h.acked(7) is not None)
            assert host.acked(7) == [protocol.header(protocol.ACK), 7, protocol.ACK_OK]
        finally:
            port.close()


def test_sim_over_udp() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.2)
        port = sock.getsockname()[1]
        peer: list[Any] = []

        def read() -> bytes:
            try:
                data, addr = sock.recvfrom(2048)
            except TimeoutError:
                return b""
            peer[:] = [addr]
            return data

        host = Host(read, lambda frame: sock.sendto(frame, peer[0]))
        with sim_process("analog:AnalogInput", "--link", f"udp://127.0.0.1:{port}") as (_proc, line):
            assert f"udp 127.0.0.1:{port}" in line and "sim-analoginput" in line
            host.until(lambda h: len(h.pubs("AnalogInput.read")) >= 2)
            hello = host.kinds(protocol.HELLO)[0]
            assert hello[1] == "sim-analoginput"
            raw, volts = host.pubs("AnalogInput.read")[-1][2:4]
            assert 0 <= raw <= 65535 and 0.0 <= volts <= 3.3
    finally:
        sock.close()


def test_sim_runs_a_firmware_code_py_unchanged() -> None:
    """firmware/code_actuator.py imports heater.py and calls run(..., link="usb_cdc") as on a board."""
    with sim_process(str(ROOT / "firmware" / "code_actuator.py"), "--id", "relay-1") as (_proc, line):
        host, port = _pty_host(re.search(r"on pty (/dev/\S+)", line).group(1))  # type: ignore[union-attr]
        try:
            host.until(lambda h: len(h.pubs("Heater.state")) >= 1)
            assert host.kinds(protocol.HELLO)[0][1] == "relay-1"
            assert host.pubs("Heater.state")[-1][2] is False
            fields = next(m[4] for m in host.kinds(protocol.DESCRIBE) if m[2] == "Heater.set_power")
            values = [True if f[0] == "on" else None for f in fields]
            host.deliver("Heater.set_power", 9, values)
            host.until(lambda h: h.acked(9) is not None)
            assert host.acked(9)[2] == protocol.ACK_OK  # type: ignore[index]
            n = len(host.pubs("Heater.state"))
            host.until(lambda h: len(h.pubs("Heater.state")) > n)
            assert host.pubs("Heater.state")[-1][2] is True
        finally:
            port.close()


@pytest.mark.parametrize("template", ["code_cpu_temperature.py", "code_analog.py"])
def test_other_firmware_templates_publish_in_the_simulator(template: str) -> None:
    with sim_process(str(ROOT / "firmware" / template)) as (_proc, line):
        host, port = _pty_host(re.search(r"on pty (/dev/\S+)", line).group(1))  # type: ignore[union-attr]
        try:
            host.until(lambda h: bool(h.kinds(protocol.PUB)))
        finally:
            port.close()


def test_sim_reports_a_bad_device_spec() -> None:
    proc = subprocess.run([sys.executable, "-m", "ether_medium.cli", "sim", "thermo:NoSuchClass"], cwd=ROOT,
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 2
    assert "has no NoSuchClass" in proc.stderr and "Thermometer" in proc.stderr


def _paced_rate(baud: int) -> float:
    """Half a second of bytes written through PacedLink at ``baud`` into a pty; the rate they arrived at."""
    n = baud // 10 // 2 // 48 * 48
    pty = PtyLink()
    fd = os.open(pty.path, os.O_RDWR | os.O_NOCTTY)
    received: list[float] = []
    got = bytearray()

    def reader() -> None:
        deadline = time.monotonic() + 30
        while len(got) < n and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.5)[0]:
                got.extend(os.read(fd, 4096))
                received.append(time.monotonic())

    thread = threading.Thread(target=reader)
    try:
        thread.start()
        link = PacedLink(pty, baud)
        t0 = time.monotonic()
        for _ in range(n // 48):
            link.write(bytes(48), 48)  # frames of 48 bytes, back to back
        thread.join(timeout=35)
        assert len(got) == n
        elapsed = received[-1] - t0
        rate_baud = n * 10 / elapsed
        print(f"paced: asked {baud} baud, measured {rate_baud:.0f} baud over {elapsed:.3f} s")
        return rate_baud
    finally:
        thread.join(timeout=35)
        pty.close()
        os.close(fd)


@pytest.mark.parametrize("baud", [9600, 115200])
def test_paced_pty_link_runs_at_the_baud_rate_asked(baud: int) -> None:
    """Half a second of bytes at the asked rate (10 bits per byte) takes 0.5 s to arrive; accept 10 %.
    Never faster, in any run: that is the pacing. Slower only because the machine is busy (a writer woken
    late lets the line idle, as a real UART's would): so up to 3 runs, one of which must reach the rate."""
    rates = []
    for _ in range(3):
        rates.append(_paced_rate(baud))
        assert rates[-1] < baud * 1.10, f"faster than {baud} baud: {rates}"
        if rates[-1] > baud * 0.90:
            break
    assert rates[-1] == pytest.approx(baud, rel=0.10), rates


def test_sim_with_baud_says_it_is_paced() -> None:
    with sim_process("thermo:Thermometer", "--baud", "9600") as (_proc, line):
        assert "paced at 9600 baud" in line


def test_stdio_link_for_a_parent_process() -> None:
    """`--link stdio`: frames on stdout, the announcement on stderr (how a parent process runs it)."""
    proc = subprocess.Popen([sys.executable, "-m", "ether_medium.cli", "sim", "thermo:Thermometer", "--link",
                             "stdio"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdin is not None and proc.stderr is not None
        out_fd = proc.stdout.fileno()

        def read() -> bytes:
            if select.select([out_fd], [], [], 0.2)[0]:
                return os.read(out_fd, 4096)
            return b""

        stdin = proc.stdin

        def write(frame: bytes) -> None:
            stdin.write(frame)
            stdin.flush()

        host = Host(read, write)
        host.until(lambda h: len(h.pubs("Thermometer.read")) >= 1)
        host.deliver("Thermometer.set_led", 3, [True])
        host.until(lambda h: h.acked(3) is not None)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
    assert b"ether sim: thermo:Thermometer as device sim-thermometer on stdin/stdout" in proc.stderr.read()


def test_heater_board_warms_thermometer_board_through_a_shared_world(tmp_path: Path) -> None:
    """Two simulated boards in two processes: switching the heater on makes the other's readings rise."""
    world = str(tmp_path / "rig.world")
    with sim_process("heater:Heater", "--world", world) as (_hp, hline), \
            sim_process("thermo:Thermometer", "--world", world) as (_tp, tline):
        heater, hport = _pty_host(re.search(r"on pty (/dev/\S+)", hline).group(1))  # type: ignore[union-attr]
        thermo, tport = _pty_host(re.search(r"on pty (/dev/\S+)", tline).group(1))  # type: ignore[union-attr]
        try:
            thermo.until(lambda h: len(h.pubs("Thermometer.read")) >= 1)
            start = thermo.pubs("Thermometer.read")[-1][2]
            assert start < 22.5
            heater.until(lambda h: len(h.kinds(protocol.DESCRIBE)) >= 2)
            fields = next(m[4] for m in heater.kinds(protocol.DESCRIBE) if m[2] == "Heater.set_power")
            heater.deliver("Heater.set_power", 1, [True if f[0] == "on" else None for f in fields])
            heater.until(lambda h: h.acked(1) is not None)
            # tau 30 s, +10 °C at full power: about +0.3 °C per second at first
            thermo.until(lambda h: h.pubs("Thermometer.read")[-1][2] > start + 0.5, timeout_s=40)
        finally:
            hport.close()
            tport.close()


def test_pty_reopened_by_the_host_gets_a_fresh_hello() -> None:
    """Like a board's USB port: the host can close and reopen it; a QUERY (which a host sends when it is
    unsure of the device's state) brings HELLO and the descriptions again."""
    with sim_process("thermo:Thermometer", "--id", "again-1") as (_proc, line):
        path = re.search(r"on pty (/dev/\S+)", line).group(1)  # type: ignore[union-attr]
        for _ in range(2):
            host, port = _pty_host(path)
            try:
                host.write(framing.encode_frame(cbor2.dumps(protocol.query())))
                host.until(lambda h: bool(h.kinds(protocol.HELLO)) and len(h.kinds(protocol.DESCRIBE)) >= 2)
                assert host.kinds(protocol.HELLO)[0][1] == "again-1"
            finally:
                port.close()


def test_wifi_template_runs_in_the_simulator_with_settings_from_the_environment() -> None:
    """firmware/code_wifi_udp.py reads settings.toml through os.getenv; on the desktop that is the
    environment, and the simulated wifi radio joins at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.2)
        port = sock.getsockname()[1]

        def read() -> bytes:
            try:
                return sock.recvfrom(2048)[0]
            except TimeoutError:
                return b""

        host = Host(read, lambda frame: None)
        env = dict(os.environ, CIRCUITPY_WIFI_SSID="lab", CIRCUITPY_WIFI_PASSWORD="secret-password",
                   ETHER_HOST="127.0.0.1", ETHER_PORT=str(port))
        proc = subprocess.Popen([sys.executable, "-m", "ether_medium.cli", "sim",
                                 str(ROOT / "firmware" / "code_wifi_udp.py"), "--link", f"udp://127.0.0.1:{port}"],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            host.until(lambda h: len(h.pubs("Thermometer.read")) >= 1)
        finally:
            proc.terminate()
            out, _err = proc.communicate(timeout=20)
        assert "Wi-Fi: joined lab as 127.0.0.1" in out
    finally:
        sock.close()


def test_a_code_py_that_never_calls_run_still_stops_on_sigterm(tmp_path: Path) -> None:
    code = tmp_path / "code.py"
    code.write_text("import time, board, digitalio\n"
                    "led = digitalio.DigitalInOut(board.LED)\nled.switch_to_output()\n"
                    "print('looping', flush=True)\n"
                    "while True:\n    led.value = not led.value\n    time.sleep(0.01)\n")
    with sim_process(str(code)) as (proc, _line):
        assert stdout_line(proc).strip() == "looping"
        proc.terminate()
        assert proc.wait(timeout=20) == 0
