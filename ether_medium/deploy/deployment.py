"""What one deploy writes onto a CIRCUITPY drive, staged and checked before a byte is written.

What lands on the drive::

    CIRCUITPY/boot.py               firmware/boot.py (enables the USB CDC data channel)
    CIRCUITPY/code.py               the chosen code.py template or file
    CIRCUITPY/<module>.py           device modules that code.py imports (examples/devices/*.py)
    CIRCUITPY/lib/ether_lite/       ether_lite's core, as .mpy when CircuitPython's mpy-cross is found
                                    (find_mpy_cross), else .py (never ether_lite/sim, desktop only)

``lib/ether_lite/`` is a plain package directory with ``__init__.py``, the layout ``circup`` expects.
Files at the drive's root that hold something else are never replaced without ``force`` (:func:`conflicts`).
"""

from __future__ import annotations

import ast
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ether_medium.deploy.board_files import board_files
from ether_medium.deploy.compiler import compile_mpy
from ether_medium.deploy.drive import BoardInfo
from ether_medium.errors import DeployError

__all__ = [
    "DEFAULT_CODE",
    "DEVICES",
    "ETHER_LITE",
    "FIRMWARE",
    "CopyItem",
    "Deployment",
    "companions",
    "conflicts",
    "needed_bytes",
    "plan",
    "resolve_code",
]

REPO = Path(__file__).resolve().parents[2]
ETHER_LITE = REPO / "ether_lite"


def _shipped(checkout: Path, packaged: str) -> Path:
    """A folder of the source checkout, or (an installed wheel) its copy inside ether_medium."""
    return checkout if checkout.is_dir() else Path(__file__).resolve().parents[1] / packaged


FIRMWARE = _shipped(REPO / "firmware", "_firmware")
DEVICES = _shipped(REPO / "examples" / "devices", "_devices")

DEFAULT_CODE = "cpu_temperature"

# The code.py a fresh CircuitPython drive ships with; replacing it loses nothing.
_STOCK_CODE = {'print("Hello World!")', "print('Hello World!')"}
_CLUSTER = 512  # FAT12/16 cluster size on small CIRCUITPY drives: every file takes whole clusters
_MARGIN = 4096  # room for directory entries and the filesystem's own bookkeeping


def resolve_code(code: str | Path | None) -> Path:
    """A code.py to deploy: a file path, or the name of a template in firmware/ (``cpu_temperature`` is
    ``firmware/code_cpu_temperature.py``)."""
    name = DEFAULT_CODE if code is None else str(code)
    candidate = Path(name)
    if candidate.is_file():
        return candidate
    template = FIRMWARE / f"code_{name.removeprefix('code_').removesuffix('.py')}.py"
    if template.is_file():
        return template
    known = sorted(p.stem.removeprefix("code_") for p in FIRMWARE.glob("code_*.py"))
    listing = ", ".join(known) or f"(none found in {FIRMWARE})"
    raise DeployError(f"--code {name}: no such file, and no template firmware/code_{name}.py. "
                      f"Templates: {listing}; or give a path.")


def _local_imports(source: Path) -> list[str]:
    tree = ast.parse(source.read_text(), filename=str(source))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module.split(".")[0])
    return names


def companions(code: Path, search: Sequence[Path] = ()) -> list[Path]:
    """Device modules ``code`` imports (and they import) found next to it or in examples/devices/."""
    dirs = [code.parent, *search, DEVICES]
    out: list[Path] = []
    todo = [code]
    while todo:
        for name in _local_imports(todo.pop()):
            for d in dirs:
                candidate = d / f"{name}.py"
                if candidate.is_file() and candidate.resolve() != code.resolve() and candidate not in out:
                    out.append(candidate)
                    todo.append(candidate)
                    break
    return out


@dataclass(frozen=True)
class CopyItem:
    source: Path
    target: str  # path relative to the drive, with / separators
    protected: bool  # a file at the root the user may have written (code.py, boot.py, device modules)


@dataclass
class Deployment:
    """What one deploy will write: built by :func:`plan`, checked, then carried out by
    :func:`~ether_medium.deploy.install.deploy`."""

    drive: Path
    board: BoardInfo
    code: Path
    items: list[CopyItem] = field(default_factory=list)
    staged: dict[str, bytes] = field(default_factory=dict)  # target -> bytes to write
    compiler_note: str = ""
    compiled: bool = False


def plan(drive: Path, board: BoardInfo, code: Path, mpy_cross: str | None, compiler_note: str) -> Deployment:
    """What deploying ``code`` onto ``drive`` writes: every file staged in memory (ether_lite compiled with
    ``mpy_cross`` when given and the board's CircuitPython matches it); nothing is written yet."""
    dep = Deployment(drive=drive, board=board, code=code, compiler_note=compiler_note)
    boot = FIRMWARE / "boot.py"
    if not boot.is_file():
        raise DeployError(f"{boot} is missing: this installation of ether-medium is incomplete; reinstall "
                          "it (pip install --force-reinstall ether-medium) or run from a source checkout.")
    dep.items.append(CopyItem(boot, "boot.py", True))
    dep.items.append(CopyItem(code, "code.py", True))
    dep.items += [CopyItem(p, p.name, True) for p in companions(code)]
    core = board_files(ETHER_LITE)
    if not core:
        raise DeployError(f"no ether_lite sources found in {ETHER_LITE}")
    compile_ok = mpy_cross is not None
    if compile_ok and board.major is not None:
        m = re.search(r"CircuitPython (\d+)", compiler_note)
        if m and int(m.group(1)) != board.major:
            dep.compiler_note = (f"{compiler_note}; but the board runs CircuitPython {board.version}, "
                                 "whose .mpy format may differ: copying .py")
            compile_ok = False
    with tempfile.TemporaryDirectory(prefix="ether-deploy-") as tmp:
        for src in core:
            rel = src.relative_to(ETHER_LITE).as_posix()
            target = "lib/ether_lite/" + rel
            # the package's own __init__ stays .py: circup reads __version__ from it
            if compile_ok and mpy_cross is not None and rel != "__init__.py":
                target = target[:-3] + ".mpy"
                dep.staged[target] = compile_mpy(mpy_cross, src, "ether_lite/" + rel[:-3], Path(tmp))
                dep.compiled = True
            else:
                dep.staged[target] = src.read_bytes()
            dep.items.append(CopyItem(src, target, False))
    for item in dep.items:
        dep.staged.setdefault(item.target, item.source.read_bytes())
    return dep


def _on_drive(size: int) -> int:
    return max(_CLUSTER, -(-size // _CLUSTER) * _CLUSTER)


def needed_bytes(dep: Deployment) -> int:
    """Space the deployment needs beyond what the files it replaces give back."""
    need = _MARGIN
    for target, data in dep.staged.items():
        need += _on_drive(len(data))
        existing = dep.drive / target
        if existing.is_file():
            need -= _on_drive(existing.stat().st_size)
    old_lib = dep.drive / "lib" / "ether_lite"
    if old_lib.is_dir():
        for p in old_lib.rglob("*"):
            if p.is_file() and p.relative_to(dep.drive).as_posix() not in dep.staged:
                need -= _on_drive(p.stat().st_size)
    return max(need, 0)


def conflicts(dep: Deployment) -> list[str]:
    """Files at the drive's root that the deployment would replace although they hold something else."""
    out = []
    for item in dep.items:
        if not item.protected:
            continue
        existing = dep.drive / item.target
        if not existing.is_file():
            continue
        old = existing.read_bytes()
        if old == dep.staged[item.target]:
            continue
        if item.target == "code.py" and old.decode("utf-8", "replace").strip() in _STOCK_CODE:
            continue  # the stock hello-world of a fresh drive
        out.append(f"{item.target} ({len(old)} bytes, differs from {item.source})")
    return out
