"""The ``circuitpython`` device: a CIRCUITPY drive as ``ether deploy`` writes it, run by CircuitPython 10.2.1.

``make deps`` builds CircuitPython's own ``mpy-cross`` and its unix port, 32-bit like a board, into
``.venv/circuitpython/bin`` (tests/circuitpython/build.sh). :func:`make_drive` deploys onto a directory
made to look like a board's drive (``boot_out.txt``, then ``boot.py``, ``code.py``, ``lib/ether_lite`` as
``.mpy``); :func:`command` runs it with ``tests/circuitpython/run_drive.py``, which stands in for the board's
supervisor and puts the emulated board modules (tests/circuitpython/board) on the import path, never on the
drive. The device's stdin/stdout is its ``usb_cdc.data`` channel.
"""

from __future__ import annotations

import os
from pathlib import Path

from ether_medium.deploy.compiler import BUILT_MPY_CROSS, ENV_MPY_CROSS
from ether_medium.deploy.install import deploy

ROOT = Path(__file__).resolve().parent.parent
INTERPRETER = BUILT_MPY_CROSS.parent / "circuitpython"
RUNNER = ROOT / "tests" / "circuitpython" / "run_drive.py"
SHARED = ROOT.parent / "shared" / "circuitpython"  # CI keeps CircuitPython's source beside the clone
BOOT_OUT = "Adafruit CircuitPython 10.2.1 on 2025-11-20; CircuitPython unix port (Ether tests) with x86\n"
# the device's heap: a mid-size board's free RAM. The emulated board modules take about 6 KB of it (compiled
# from .py; native code on a board); bench/lite.py measures ether_lite without them.
HEAP = "64K"


def missing() -> str | None:
    """Why the circuitpython device cannot run here, or None."""
    for exe in (INTERPRETER, BUILT_MPY_CROSS):
        if not exe.is_file():
            return (f"{exe.relative_to(ROOT)} is not built: run `make deps` (builds CircuitPython 10.2.1 "
                    "from $ETHER_CIRCUITPY_SRC, ../shared/circuitpython or the upstream tag; see "
                    "tests/circuitpython/build.sh)")
    return None


def require() -> None:
    """Skip the calling test when CircuitPython is not built, saying why; in CI, where its source is at
    hand (``CI`` set and ../shared/circuitpython present), fail instead: a skip there hides a broken build."""
    import pytest

    why = missing()
    if why is None:
        return
    if os.environ.get("CI") and SHARED.is_dir():
        pytest.fail(f"CI has {SHARED} but {why}")
    pytest.skip(why)


def make_drive(drive: Path, code: str | Path) -> Path:
    """Deploy ``code`` (a path or a firmware template name) with ether_lite onto ``drive``, a fresh directory
    that gets a board's ``boot_out.txt``, compiling with CircuitPython's mpy-cross. Returns ``drive``."""
    drive.mkdir(parents=True, exist_ok=True)
    (drive / "boot_out.txt").write_text(BOOT_OUT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETHER_")}
    env[ENV_MPY_CROSS] = str(BUILT_MPY_CROSS)
    result = deploy(drive, code=code, force=True, env=env, progress=lambda _: None)
    if not result.compiled:
        raise RuntimeError(f"ether deploy copied .py onto {drive}: {BUILT_MPY_CROSS} did not compile")
    return drive


def command(drive: Path, device_id: str | None = None, heap: str = HEAP) -> list[str]:
    """The command that runs ``drive`` as a board (stdin/stdout: its USB data channel)."""
    cmd = [str(INTERPRETER), "-X", f"heapsize={heap}", str(RUNNER), str(drive)]
    return [*cmd, "--id", device_id] if device_id else cmd


def compile_lite(dest: Path, flags: tuple[str, ...] | None = None) -> dict[str, int]:
    """Every module of ether_lite but the simulator (host-side ones too, for the tests) compiled by
    CircuitPython's mpy-cross into ``dest/ether_lite`` with ``ether deploy``'s flags (or ``flags``), as
    deploy names them. Returns the size of each ``.mpy`` by its path relative to the package (``x.py``)."""
    import subprocess

    from ether_medium.deploy.compiler import MPY_CROSS_FLAGS
    from ether_medium.deploy.deployment import ETHER_LITE

    sizes = {}
    for src in sorted(ETHER_LITE.rglob("*.py")):
        rel = src.relative_to(ETHER_LITE)
        if rel.parts[0] == "sim":
            continue
        out = dest / "ether_lite" / rel.with_suffix(".mpy")
        out.parent.mkdir(parents=True, exist_ok=True)
        name = "ether_lite/" + rel.as_posix()
        opts = MPY_CROSS_FLAGS if flags is None else flags
        proc = subprocess.run([str(BUILT_MPY_CROSS), *opts, "-o", str(out), "-s", name, str(src)],
                              capture_output=True, text=True, timeout=60, check=False)
        if proc.returncode:
            raise RuntimeError(f"{BUILT_MPY_CROSS} failed on {src}: {proc.stderr.strip()}")
        sizes[rel.as_posix()] = out.stat().st_size
    return sizes
