"""``ether devices`` and ``ether bridge LINK`` against ether_lite device processes on real ptys."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from bridge_support import ROOT, device
from conftest import stop_process

from ether_medium.cli import main as ether

ETHER = [sys.executable, "-m", "ether_medium.cli"]


def ether_bridge(*args: str) -> subprocess.CompletedProcess[str]:
    """``ether bridge ARGS`` in a process of its own, run to its end."""
    return subprocess.run([*ETHER, "bridge", *args], capture_output=True, text=True, cwd=ROOT, timeout=20)


def start_ether_bridge(*args: str, **popen: Any) -> subprocess.Popen[bytes]:
    """``ether bridge ARGS`` started in a process of its own (stop it with ``stop_process``)."""
    return subprocess.Popen([*ETHER, "bridge", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), **popen)


def test_devices_lists_boards_answering_on_given_ports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with device(tmp_path, "tty-a", device_id="board-a") as a, device(tmp_path, "tty-b", device_id="board-b"):
        missing = tmp_path / "nothing-here"
        code = ether(["devices", f"{tmp_path}/tty-*", a.pty, str(missing), "--timeout", "3"])
        out = capsys.readouterr().out
    assert code == 0
    assert "ether_lite device id board-a" in out and "ether_lite device id board-b" in out
    assert "Thermometer.read (pub celsius: float, every 0.05 s)" in out
    assert f"{missing}" in out and "no such port" in out
    # the pty given twice (glob and path) is probed once: the second open would be refused as busy
    assert "busy" not in out.lower() and "could not" not in out.lower()


def test_bridge_command_prints_each_message_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    with device(tmp_path, "tty-a", device_id="board-a", every_s=0.05) as dev:
        proc = start_ether_bridge(
            dev.url, "--name", "thermo1",
            "--send", 'Thermometer.set_led={"on": true}', "--send", 'Thermometer.set_led={"on": 3}',
            # Ctrl-C as from a terminal: a test runner started in the background by a non-interactive
            # shell has SIGINT ignored, and the child would inherit that
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        try:
            assert proc.stdout is not None
            lines: list[str] = []
            deadline = time.monotonic() + 15
            while sum("Thermometer.read #" in line for line in lines) < 5:
                assert time.monotonic() < deadline, lines
                lines.append(proc.stdout.readline().decode())
            proc.send_signal(signal.SIGINT)
            rest, err = proc.communicate(timeout=10)
            lines += rest.decode().splitlines()
        finally:
            stop_process(proc, sig=signal.SIGKILL)
    text = "\n".join(lines)
    # one --send was refused by the device: the command says so and exits 1
    assert proc.returncode == 1, err
    assert b"ether bridge: delivery failed: Thermometer.set_led: " in err
    assert "thermo1 attached: id board-a" in text
    assert 'delivered Thermometer.set_led {"on": true}' in text
    assert 'NOT delivered Thermometer.set_led {"on": 3}' in text
    assert "[thermo1] INFO led on" in text
    assert 'Thermometer.led #0 {"on": true}' in text
    assert "thermo1 link counters: frames_in=" in text


def test_bridge_send_exits_0_when_every_delivery_was_acknowledged(tmp_path: Path) -> None:
    with device(tmp_path, "tty-a", device_id="board-a", every_s=0.05) as dev:
        out = ether_bridge(dev.url, "--quiet", "--duration", "2",
                           "--send", 'Thermometer.set_led={"on": true}')
    assert out.returncode == 0, out.stderr
    assert 'delivered Thermometer.set_led {"on": true}' in out.stdout


def test_bridge_send_exits_1_when_the_device_never_attached(tmp_path: Path) -> None:
    out = ether_bridge(f"serial://{tmp_path}/no-port", "--duration", "0.5", "--send",
                       'Thermometer.set_led={"on": true}')
    assert out.returncode == 1, out
    assert "ether bridge: --send Thermometer.set_led was not delivered" in out.stderr


def test_bridge_command_bad_link(capsys: pytest.CaptureFixture[str]) -> None:
    assert ether(["bridge", "tcp://localhost:1"]) == 2
    assert "unknown link scheme 'tcp'" in capsys.readouterr().err


def test_bridge_command_survives_every_bad_body() -> None:
    """``ether bridge LINK`` on a pty: the bodies that killed it (``5``, ``[]``, ``{}``, ``null``, empty, ...)
    are counted and dropped, and the readings after them are printed (issue 11)."""
    import select

    from bridge_support import scripted_device
    from test_bridge_hostile import BAD_BODIES

    from ether_lite import framing, protocol

    hello = protocol.hello("scripted-1", 1234, "ether_lite test", 1, 1 << 30)
    read = protocol.describe(0, "Thermometer.read", protocol.DEVICE_PUBLISHES, [["celsius", "f"]], 0.1)
    with scripted_device() as dev:
        dev.on_query(hello, read)
        proc = start_ether_bridge(dev.url, "--name", "thermo1")
        try:
            assert proc.stdout is not None
            out = b""

            def wait_for(text: bytes) -> None:
                nonlocal out
                deadline = time.monotonic() + 10
                while text not in out:
                    left = deadline - time.monotonic()
                    assert left > 0 and proc.poll() is None, (text, out[-500:], proc.poll())
                    if select.select([proc.stdout], [], [], left)[0]:
                        out += os.read(proc.stdout.fileno(), 65536)

            wait_for(b"thermo1 attached")
            for seq, body in enumerate(BAD_BODIES):
                dev.write(framing.encode_frame(body))
                dev.send(protocol.pub(0, seq, 100 + seq, [20.0 + seq]))
                wait_for(f"Thermometer.read #{seq} ".encode())
            assert proc.poll() is None
        finally:
            stop_process(proc, 10)
