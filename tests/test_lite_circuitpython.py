"""ether_lite under real CircuitPython 10.2.1 (its unix port, 32-bit, built by `make deps`): what
`ether deploy` writes is CircuitPython's bytecode and runs there, and ether_lite's device-side checks pass.

The board modules a drive's code needs (usb_cdc, board, digitalio, microcontroller, supervisor) come from
tests/circuitpython/board, which only tests/circuitpython/run_drive.py puts on the import path.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ether_lite import cbor, framing, protocol
from hil import circuitpython as cp

ROOT = Path(__file__).resolve().parent.parent
BOARD = ROOT / "tests" / "circuitpython" / "board"


@pytest.fixture(autouse=True)
def _built() -> None:
    cp.require()


def _run(script: Path, *args: str, path: list[Path], heap: str = "512K",
         timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MICROPYPATH": ":".join(map(str, path))}
    return subprocess.run([str(cp.INTERPRETER), "-X", f"heapsize={heap}", str(script), *args], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)


def test_ether_deploy_writes_circuitpython_bytecode_that_imports(tmp_path: Path) -> None:
    """`ether deploy` on its own finds CircuitPython's mpy-cross (no warning), and every module it writes
    is CircuitPython's (.mpy header 'C', version 6) and imports under CircuitPython."""
    drive = tmp_path / "CIRCUITPY"
    (drive / "lib").mkdir(parents=True)
    (drive / "boot_out.txt").write_text(cp.BOOT_OUT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETHER_")}
    proc = subprocess.run([sys.executable, "-m", "ether_medium.cli", "deploy", str(drive)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    assert "compiling with" in out and "CircuitPython 10.2.1" in out, out
    for warning in ("copying .py", "not CircuitPython", "warning"):
        assert warning not in out, out
    lib = drive / "lib" / "ether_lite"
    mpys = sorted(lib.rglob("*.mpy"))
    assert len(mpys) >= 10 and [p.name for p in lib.rglob("*.py")] == ["__init__.py"]
    for p in mpys:
        head = p.read_bytes()[:2]
        assert head == b"C\x06", (p, head)
    names = [("ether_lite/" + p.relative_to(lib).with_suffix("").as_posix()).replace("/__init__", "")
             for p in mpys]
    script = tmp_path / "imports.py"
    script.write_text("import sys\nprint(sys.implementation.name)\n"
                      f"for m in {[n.replace('/', '.') for n in names]!r}:\n"
                      "    __import__(m)\n    print(sys.modules[m].__file__)\n")
    proc = _run(script, path=[BOARD, drive / "lib"])
    assert proc.returncode == 0, proc.stderr
    impl, *files = proc.stdout.split()
    assert impl == "circuitpython" and files == [str(p) for p in mpys], proc.stdout


def test_the_deployed_thermometer_runs_as_a_board(tmp_path: Path) -> None:
    """The default template (firmware/code_cpu_temperature.py + thermo.py) on a deployed drive, run as a board
    runs it: HELLO on usb_cdc.data, PING answered, set_led delivered and ACKed; the board's clock
    (supervisor.ticks_ms, wrapping at 2**29) is the one ether_lite uses; end of file powers it off."""
    drive = cp.make_drive(tmp_path / "CIRCUITPY", "cpu_temperature")
    proc = subprocess.Popen(cp.command(drive, "thermo-cp"), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    dec = framing.FrameDecoder()
    got: list[list[object]] = []

    def until(what: str, cond: object) -> list[object]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for m in got:
                if cond(m):  # type: ignore[operator]
                    return m
            r, _, _ = select.select([proc.stdout], [], [], 0.2)
            if r:
                data = os.read(proc.stdout.fileno(), 4096)  # type: ignore[union-attr]
                assert data, proc.stderr.read() if proc.stderr else "end of file"  # type: ignore[union-attr]
                got.extend(cbor.loads(b) for b in dec.frames(data))
        raise AssertionError(f"no {what} in {got}")

    def send(msg: list[object]) -> None:
        proc.stdin.write(framing.encode_frame(cbor.dumps(msg)))  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]

    try:
        hello = until("HELLO", lambda m: m[0] == protocol.HELLO)
        assert hello[1] == "thermo-cp" and "circuitpython 10.2.1" in hello[3] and hello[5] == 1 << 29, hello
        led = until("DESCRIBE", lambda m: m[0] == protocol.DESCRIBE and m[2] == "Thermometer.set_led")
        send(protocol.ping(41))
        until("PONG", lambda m: m[0] == protocol.PONG and m[1] == 41)
        send(protocol.deliver(led[1], 9, [{"on": True}]))
        assert until("ACK", lambda m: m[0] == protocol.ACK)[1:3] == [9, 0]
        until("PUB", lambda m: m[0] == protocol.PUB)
        proc.stdin.close()
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()


def test_device_checks_pass_under_circuitpython(tmp_path: Path) -> None:
    """tests/micropython/lite_checks.py (the checks test_lite_device.py runs on CPython) on ether_lite
    compiled as `ether deploy` compiles it, loaded from .mpy only, with the board modules on the path."""
    cp.compile_lite(tmp_path)
    proc = _run(ROOT / "tests" / "micropython" / "run_checks.py", "tests/micropython", "tests/vectors",
                str(tmp_path / "ether_lite"), path=[BOARD, tmp_path])
    sys.stdout.write(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for line in ("ok   check_every_module_imports", "ok   check_node_deliver_ack_and_dedup",
                 "ok   check_no_allocation_per_reading", "all checks passed"):
        assert line in proc.stdout
