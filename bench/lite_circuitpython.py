"""ether_lite's RAM under CircuitPython 10.2.1 (the 32-bit unix port `make deps` builds), from the .mpy files
`ether deploy` writes onto a drive: the figures that decide whether a SAMD21 board (about 17 KB free) fits.

    .venv/bin/python bench/lite_circuitpython.py       (bench/lite.py prints these too)

The unix port's heap is fixed per run (``-X heapsize=N``), so ``gc.mem_alloc()`` is a real figure and a
program that does not fit raises MemoryError as on a board. What it cannot show: a board's own modules
(usb_cdc, board, ...) are native there, so the device here talks over a small link object of its own.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from thermometer_device import device_py  # noqa: E402

SAMD21_FREE = 17 * 1024  # free heap of a SAMD21 board at the CircuitPython prompt
GOAL_HEAP_KB = 16  # issue 13: the Thermometer runs in a 16 KB heap, leaving room for a sensor driver

ROUNDS = 3  # PING + DELIVER rounds: the receive path is loaded, dropped and loaded again

# Figures in one run, each gc.mem_alloc() after gc.collect(): importing the core, then the device above.
MEASURE_PY = r"""
import gc
import sys
gc.collect()
a = gc.mem_alloc()
from ether_lite import ether_pub, ether_sub, run
import ether_lite.links
gc.collect()
print("IMPORT", gc.mem_alloc() - a)
print("LOADED", ",".join(sorted(m for m in sys.modules if m.startswith("ether_lite"))))
import code_thermo
gc.collect()
print("THERMO", gc.mem_alloc() - a)
print("FREE", gc.mem_free())
"""


def code_py(arrays: bool = False) -> str:
    """The issue's minimal device as its code.py (bench/thermometer_device.py); ``arrays``: its array
    variant."""
    return "from ether_lite import ether_pub, ether_sub, run\n\n" + device_py(ROUNDS, arrays=arrays)


def deployed_lib(drive: Path) -> Path:
    """``lib/`` of a drive `ether deploy` wrote (CircuitPython's mpy-cross), the Thermometer added (and its
    array variant, ``code_arrays``)."""
    from hil.circuitpython import make_drive

    make_drive(drive, ROOT / "firmware" / "code_cpu_temperature.py")
    (drive / "lib" / "code_thermo.py").write_text(code_py())
    (drive / "lib" / "code_arrays.py").write_text(code_py(arrays=True))
    return drive / "lib"


def run_cp(script: Path, lib: Path, heap_kb: float,
           interpreter: Path | None = None) -> subprocess.CompletedProcess[str]:
    from hil.circuitpython import INTERPRETER

    exe = interpreter or INTERPRETER
    return subprocess.run([str(exe), "-X", f"heapsize={int(heap_kb * 1024)}", str(script)],
                          env={"MICROPYPATH": f".frozen:{lib}"}, capture_output=True, text=True, timeout=60,
                          check=False)


def smallest_heap_kb(script: Path, lib: Path, interpreter: Path | None = None, step: float = 0.25,
                     top: float = 40.0) -> float:
    """The smallest heap (a multiple of ``step`` KB) from which ``script`` runs to its end in every larger one
    up to ``top``. Whether a program fits is not monotonic in the heap size (where the blocks fall decides
    whether a large one finds room): a heap that happens to work just below a failing one does not count."""
    heap = top
    if run_cp(script, lib, heap, interpreter).returncode:
        why = run_cp(script, lib, heap, interpreter).stdout[-300:]  # CircuitPython prints tracebacks there
        raise RuntimeError(f"does not run in {top:g} KB: {why}")
    while heap - step >= 1 and not run_cp(script, lib, heap - step, interpreter).returncode:
        heap -= step
    return heap


LAYOUTS = 6  # heap layouts the smallest heap is found for: code.py first allocates 0, 40, ... bytes more


def array_figures(lib: Path) -> dict[str, str]:
    """The array variant's RAM end to end (ARRAYS, bytes, in a 64 KB heap) and smallest heap (HEAP_KB)."""
    with tempfile.TemporaryDirectory() as tmp:
        measure = Path(tmp) / "measure.py"
        measure.write_text(MEASURE_PY.replace("import code_thermo", "import code_arrays")
                           .replace('"THERMO"', '"ARRAYS"'))
        proc = run_cp(measure, lib, 64)
        if proc.returncode:
            raise RuntimeError(proc.stdout + proc.stderr)
        fig = dict(ln.split(" ", 1) for ln in proc.stdout.splitlines() if " " in ln)
        code = Path(tmp) / "code.py"
        code.write_text(code_py(arrays=True))
        fig["HEAP_KB"] = str(smallest_heap_kb(code, lib))
    return fig


def figures(lib: Path, interpreter: Path | None = None) -> dict[str, str]:
    """IMPORT, LOADED, THERMO, FREE (bytes, from MEASURE_PY in a 64 KB heap) and, for ``lib``, HEAP_KB: the
    smallest heap of the Thermometer, then HEAP_KB_RANGE: the least and the most of it over ``LAYOUTS`` heap
    layouts (where a few bytes more or less, a longer path, put the blocks decides it, up to a few KB)."""
    with tempfile.TemporaryDirectory() as tmp:
        measure = Path(tmp) / "measure.py"
        measure.write_text(MEASURE_PY)
        proc = run_cp(measure, lib, 64, interpreter)
        if proc.returncode:
            raise RuntimeError(proc.stdout + proc.stderr)
        fig = dict(ln.split(" ", 1) for ln in proc.stdout.splitlines() if " " in ln)
        heaps = []
        for i in range(LAYOUTS):
            code = Path(tmp) / f"code{i}.py"
            code.write_text(f"_layout = bytearray({40 * i})\n" + code_py())
            heaps.append(smallest_heap_kb(code, lib, interpreter))
        fig["HEAP_KB"] = str(heaps[0])
        fig["HEAP_KB_RANGE"] = f"{min(heaps):g} {max(heaps):g}"
    return fig


def frozen_manifest() -> str:
    """A FROZEN_MANIFEST freezing what `ether deploy` copies to lib/ether_lite into the firmware."""
    from ether_medium.deploy.board_files import board_files
    from ether_medium.deploy.deployment import ETHER_LITE

    files = [p.relative_to(ETHER_LITE).as_posix() for p in board_files(ETHER_LITE)]
    return f"package('ether_lite', files={files!r}, base_path={str(ETHER_LITE.parent)!r}, opt=3)\n"


def frozen_interpreter() -> tuple[Path | None, str]:
    """CircuitPython's unix port with ether_lite frozen in, as a custom board firmware has it
    (firmware/README.md): .venv/circuitpython/bin/circuitpython-frozen, built by tests/circuitpython/build.sh
    and built again when ether_lite changed (about 25 s the first time). Returns (the interpreter, "") or
    (None, why not)."""
    import hashlib
    import os

    from ether_medium.deploy.board_files import board_files
    from ether_medium.deploy.compiler import BUILT_MPY_CROSS
    from ether_medium.deploy.deployment import ETHER_LITE

    out = BUILT_MPY_CROSS.parent.parent
    exe = out / "bin" / "circuitpython-frozen"
    manifest = frozen_manifest()
    sources = b"".join(p.read_bytes() for p in board_files(ETHER_LITE))
    digest = hashlib.sha256(manifest.encode() + sources).hexdigest()
    stamp = out / "frozen.stamp"
    if exe.is_file() and stamp.is_file() and stamp.read_text() == digest:
        return exe, ""
    (out / "frozen_manifest.py").write_text(manifest)
    proc = subprocess.run(["bash", str(ROOT / "tests" / "circuitpython" / "build.sh"), str(out),
                           str(out / "frozen_manifest.py")], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHON": sys.executable}, check=False)
    if proc.returncode or not exe.is_file():
        return None, "the frozen build failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1]
    stamp.write_text(digest)
    return exe, ""


def line(label: str, value: str, target: str = "") -> None:
    print(f"{label:<58} {value}{'   [target ' + target + ']' if target else ''}")


def report() -> None:
    """Print the CircuitPython figures (or why they cannot be had)."""
    from hil.circuitpython import INTERPRETER, missing

    why = missing()
    if why:
        line("CircuitPython figures", "skipped: " + why)
        return
    bits = subprocess.run([str(INTERPRETER), "-c", "import sys; print(sys.maxsize.bit_length() + 1)"],
                          capture_output=True, text=True, check=False).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        lib = deployed_lib(Path(tmp) / "CIRCUITPY")
        fig = figures(lib)
        arrays = array_figures(lib)
    cp = f"CircuitPython 10.2.1 ({bits}-bit)"
    loaded = fig["LOADED"].split(",")
    line(f"{cp}: RAM to import the core ({len(loaded)} modules, .mpy)", f"{int(fig['IMPORT'])} B")
    thermo = int(fig["THERMO"])
    line(f"{cp}: RAM of the Thermometer device end to end", f"{thermo} B = {thermo / 1024:.1f} KB")
    heap = float(fig["HEAP_KB"])
    lo, hi = fig["HEAP_KB_RANGE"].split()
    line(f"{cp}: smallest heap the Thermometer code.py runs in", f"{heap:g} KB ({lo}-{hi} KB as the layout"
         " varies)", f"<= {GOAL_HEAP_KB} KB")
    print(f"  (code.py: a 1 Hz publisher, a subscriber, run() answering {ROUNDS} rounds of PING + DELIVER to"
          " set_led, ether_lite as `ether deploy`\n   writes it; it runs in that heap and every larger one up"
          f" to 40 KB. A SAMD21 ({SAMD21_FREE // 1024} KB free at the prompt) keeps"
          f" {(SAMD21_FREE - heap * 1024) / 1024:.1f} KB for a sensor driver)")
    more = int(arrays["ARRAYS"]) - thermo
    line(f"{cp}: the same with arrays: RAM end to end / smallest heap",
         f"{int(arrays['ARRAYS'])} B (+{more} B) / {float(arrays['HEAP_KB']):g} KB")
    print("  (its publisher sends 100 int16 samples (an array.array, 200 B of it the samples themselves),"
          " its subscriber takes 8 uint8\n   levels: ether_lite.typed loaded for its array fields,"
          " the decoder reading the typed arrays of the DELIVERs)")
    exe, why = frozen_interpreter()
    if exe is None:
        line(f"{cp}, ether_lite frozen into the firmware", "skipped: " + why)
        return
    with tempfile.TemporaryDirectory() as tmp:
        lib = Path(tmp)
        (lib / "code_thermo.py").write_text(code_py())
        frozen = figures(lib, exe)
    line(f"{cp}, ether_lite frozen: RAM to import the core", f"{int(frozen['IMPORT'])} B")
    line(f"{cp}, ether_lite frozen: RAM of the Thermometer end to end", f"{int(frozen['THERMO'])} B")
    fheap = float(frozen["HEAP_KB"])
    lo, hi = frozen["HEAP_KB_RANGE"].split()
    line(f"{cp}, ether_lite frozen: smallest heap of the Thermometer", f"{fheap:g} KB ({lo}-{hi} KB)",
         f"<= {GOAL_HEAP_KB} KB")
    left = (SAMD21_FREE - fheap * 1024) / 1024
    print("  (a custom SAMD21 firmware with ether_lite frozen in, firmware/README.md: the bytecode stays in"
          f" flash;\n   {left:.1f} KB of a SAMD21's heap left for the user's code)")


if __name__ == "__main__":
    report()
