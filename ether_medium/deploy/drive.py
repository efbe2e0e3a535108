"""Copy ether_lite and the firmware onto a mounted CIRCUITPY drive.

What lands on the drive::

    CIRCUITPY/boot.py               firmware/boot.py (enables the USB CDC data channel)
    CIRCUITPY/code.py               the chosen code.py template or file
    CIRCUITPY/<module>.py           device modules that code.py imports (examples/devices/*.py)
    CIRCUITPY/lib/ether_lite/       ether_lite's core, as .mpy when CircuitPython's mpy-cross is found
                                    (find_mpy_cross), else .py (never ether_lite/sim, desktop only)

``lib/ether_lite/`` is a plain package directory with ``__init__.py``, the layout ``circup`` expects.
Files at the drive's root that hold something else are never replaced without ``force``.
"""

from __future__ import annotations

import ast
import glob
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ether_medium.deploy.board_files import board_files
from ether_medium.deploy.compiler import (
    BUILT_MPY_CROSS,
    compile_mpy,
    find_mpy_cross,
)
from ether_medium.errors import DeployError

__all__ = [
    "BUILT_MPY_CROSS",
    "DEFAULT_CODE",
    "DRIVE_PATTERNS",
    "BoardInfo",
    "DeployError",
    "DeployResult",
    "Deployment",
    "deploy",
    "find_drive",
    "find_mpy_cross",
    "parse_boot_out",
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
DRIVE_PATTERNS: tuple[str, ...] = (
    "/media/*/CIRCUITPY",
    "/run/media/*/CIRCUITPY",
    "/media/CIRCUITPY",
    "/mnt/CIRCUITPY",
    "/Volumes/CIRCUITPY",
)
ENV_DRIVE = "ETHER_CIRCUITPY"  # path of the drive, skips the search
ENV_FREE = "ETHER_DEPLOY_FREE_BYTES"  # pretend the drive has this much free space (tests, dry checks)
# CircuitPython's mpy-cross as `make deps` builds it (tests/circuitpython/build.sh)

# The code.py a fresh CircuitPython drive ships with; replacing it loses nothing.
_STOCK_CODE = {'print("Hello World!")', "print('Hello World!')"}
_CLUSTER = 512  # FAT12/16 cluster size on small CIRCUITPY drives: every file takes whole clusters
_MARGIN = 4096  # room for directory entries and the filesystem's own bookkeeping

_FIRST_LINE = re.compile(
    r"^Adafruit CircuitPython (?P<version>\S+) on (?P<date>\S+?);\s*"
    r"(?P<board>.+?)(?: with (?P<chip>\S+))?\s*$"
)


@dataclass(frozen=True)
class BoardInfo:
    """What ``boot_out.txt`` says about the board."""

    version: str
    date: str
    board: str
    chip: str | None = None
    board_id: str | None = None
    uid: str | None = None

    @property
    def major(self) -> int | None:
        m = re.match(r"(\d+)", self.version)
        return int(m.group(1)) if m else None

    def describe(self) -> str:
        chip = f" ({self.chip})" if self.chip else ""
        board_id = f", board id {self.board_id}" if self.board_id else ""
        return f"{self.board}{chip}, CircuitPython {self.version}{board_id}"


def parse_boot_out(text: str, source: str = "boot_out.txt") -> BoardInfo:
    """Parse a ``boot_out.txt``: first line ``Adafruit CircuitPython 9.2.1 on 2024-11-20; Raspberry Pi Pico
    with rp2040``, then optional ``Board ID:raspberry_pi_pico`` and ``UID:E6614103E7452D2F`` lines."""
    lines = text.splitlines()
    first = lines[0].strip() if lines else ""
    m = _FIRST_LINE.match(first)
    if m is None:
        raise DeployError(
            f"{source}: the first line is {first!r}, expected 'Adafruit CircuitPython <version> on <date>; "
            "<board> with <chip>'. Is this a CircuitPython drive? (MicroPython boards have no CIRCUITPY "
            "drive; install CircuitPython from circuitpython.org first)"
        )
    extra: dict[str, str] = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep:
            extra[key.strip().lower()] = value.strip()
    return BoardInfo(
        version=m.group("version"),
        date=m.group("date"),
        board=m.group("board").strip(),
        chip=m.group("chip"),
        board_id=extra.get("board id"),
        uid=extra.get("uid"),
    )


def find_drive(
    path: str | Path | None = None,
    patterns: Sequence[str] = DRIVE_PATTERNS,
    env: dict[str, str] | None = None,
) -> Path:
    """The CIRCUITPY drive to deploy to: ``path`` if given, else ``$ETHER_CIRCUITPY``, else the one mounted
    drive with a ``boot_out.txt`` under ``patterns``. Raises :class:`DeployError` saying what to do."""
    env = dict(os.environ) if env is None else env
    if path is None and env.get(ENV_DRIVE):
        path = env[ENV_DRIVE]
    if path is not None:
        drive = Path(path)
        if not drive.is_dir():
            raise DeployError(f"{drive} is not a directory. Give the mount point of the board's CIRCUITPY "
                              "drive (for example /media/$USER/CIRCUITPY), or leave the path out to search.")
        if not (drive / "boot_out.txt").is_file():
            raise DeployError(f"{drive} does not look like a CIRCUITPY drive: it has no boot_out.txt. Give "
                              "the drive the board mounts when CircuitPython runs on it.")
        return drive
    found = sorted({Path(p) for pattern in patterns for p in glob.glob(pattern)
                    if Path(p, "boot_out.txt").is_file()})
    if not found:
        raise DeployError(
            "no CIRCUITPY drive found (looked for boot_out.txt in " + ", ".join(patterns) + "). Plug the "
            "board in with a data USB cable and wait for the CIRCUITPY drive to mount; if it shows up "
            f"elsewhere, run `ether deploy /path/to/CIRCUITPY` or set {ENV_DRIVE}. No drive at all: the "
            "board needs CircuitPython first (see firmware/README.md)."
        )
    if len(found) > 1:
        raise DeployError("more than one CIRCUITPY drive is mounted: " + ", ".join(map(str, found))
                          + ". Say which one: `ether deploy PATH`.")
    return found[0]


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


def _core_files(root: Path = ETHER_LITE) -> list[Path]:
    """What a board needs of ether_lite (deploy/board_files.py: firmware/manifest.py shares the rule)."""
    return board_files(root)


@dataclass(frozen=True)
class CopyItem:
    source: Path
    target: str  # path relative to the drive, with / separators
    protected: bool  # a file at the root the user may have written (code.py, boot.py, device modules)


@dataclass
class Deployment:
    """What one deploy will write: built by :func:`plan`, checked, then carried out by :func:`deploy`."""

    drive: Path
    board: BoardInfo
    code: Path
    items: list[CopyItem] = field(default_factory=list)
    staged: dict[str, bytes] = field(default_factory=dict)  # target -> bytes to write
    compiler_note: str = ""
    compiled: bool = False


@dataclass(frozen=True)
class DeployResult:
    drive: Path
    board: BoardInfo
    written: list[str]
    unchanged: list[str]
    bytes_written: int
    compiled: bool
    next_steps: str


def plan(drive: Path, board: BoardInfo, code: Path, mpy_cross: str | None, compiler_note: str) -> Deployment:
    dep = Deployment(drive=drive, board=board, code=code, compiler_note=compiler_note)
    boot = FIRMWARE / "boot.py"
    if not boot.is_file():
        raise DeployError(f"{boot} is missing: this installation of ether-medium is incomplete; reinstall "
                          "it (pip install --force-reinstall ether-medium) or run from a source checkout.")
    dep.items.append(CopyItem(boot, "boot.py", True))
    dep.items.append(CopyItem(code, "code.py", True))
    dep.items += [CopyItem(p, p.name, True) for p in companions(code)]
    core = _core_files()
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


def _conflicts(dep: Deployment) -> list[str]:
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


def _fmt(n: int) -> str:
    return f"{n / 1024:.1f} KB" if n >= 1024 else f"{n} B"


def deploy(
    drive: str | Path | None = None,
    code: str | Path | None = None,
    force: bool = False,
    progress: Callable[[str], None] = print,
    free_bytes: int | None = None,
    env: dict[str, str] | None = None,
    patterns: Sequence[str] = DRIVE_PATTERNS,
) -> DeployResult:
    """Copy ether_lite, boot.py, the chosen code.py and its device modules onto a CIRCUITPY drive.

    ``free_bytes`` (or ``$ETHER_DEPLOY_FREE_BYTES``) replaces the drive's measured free space. Raises
    :class:`DeployError` before writing anything when the drive is missing, too full, or holds a different
    code.py (and ``force`` is not set)."""
    env = dict(os.environ) if env is None else env
    root = find_drive(drive, patterns, env)
    boot_out = root / "boot_out.txt"
    board = parse_boot_out(boot_out.read_text(errors="replace"), str(boot_out))
    progress(f"CIRCUITPY drive {root}: {board.describe()}")
    if board.major is not None and board.major < 8:
        progress(f"warning: CircuitPython {board.version} is older than Ether supports (8 and newer; tested "
                 "on 9 and 10): update it from circuitpython.org, or expect the board to fail at import")
    code_path = resolve_code(code)
    mpy_cross, note = find_mpy_cross(env)
    dep = plan(root, board, code_path, mpy_cross, note)
    progress(dep.compiler_note)

    conflicts = _conflicts(dep)
    if conflicts and not force:
        shown = f" --code {code}" if code is not None else ""
        raise DeployError(
            f"{root} already holds different files: " + "; ".join(conflicts) + ". Nothing was copied. "
            "Keep a copy of them if you need them, then run again with --force to replace them: "
            f"`ether deploy {root}{shown} --force`."
        )
    if free_bytes is None and env.get(ENV_FREE):
        try:
            free_bytes = int(env[ENV_FREE])
        except ValueError as exc:
            raise DeployError(f"{ENV_FREE}={env[ENV_FREE]!r} is not a number of bytes") from exc
    free = shutil.disk_usage(root).free if free_bytes is None else free_bytes
    need = needed_bytes(dep)
    if need > free:
        raise DeployError(
            f"{root} is too full: this deploy needs {_fmt(need)} more, the drive has {_fmt(free)} free. "
            "Nothing was copied. Delete files you do not need from the drive (old libraries in lib/ are the "
            "usual culprits), or install a CircuitPython mpy-cross so ether_lite is copied as smaller .mpy."
        )

    lib = root / "lib" / "ether_lite"
    if lib.is_dir():  # ours: drop files this deploy does not write (a stale .py would shadow a fresh .mpy)
        for old in sorted(lib.rglob("*"), reverse=True):
            if old.is_file() and old.relative_to(root).as_posix() not in dep.staged:
                old.unlink()
    written: list[str] = []
    unchanged: list[str] = []
    total = 0
    targets = list(dep.staged)
    for i, target in enumerate(targets, 1):
        data = dep.staged[target]
        dest = root / target
        if dest.is_file() and dest.read_bytes() == data:
            unchanged.append(target)
            progress(f"  [{i}/{len(targets)}] {target} unchanged")
            continue
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(dest, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())  # the board may be unplugged right after; get the bytes onto it now
        except OSError as exc:
            raise DeployError(
                f"could not write {dest}: {exc.strerror or exc}. {len(written)} of {len(targets)} files were "
                "copied. If the drive is read-only (a boot.py that calls storage.remount makes it so, or the "
                "board is in safe mode), fix that on the board and run `ether deploy` again."
            ) from exc
        written.append(target)
        total += len(data)
        progress(f"  [{i}/{len(targets)}] {target} ({_fmt(len(data))})")
    steps = _next_steps(root, dep)
    progress(f"Copied {len(written)} files ({_fmt(total)}), {len(unchanged)} unchanged.")
    progress(steps)
    return DeployResult(root, board, written, unchanged, total, dep.compiled, steps)


def _next_steps(root: Path, dep: Deployment) -> str:
    lines = ["Next:",
             "  1. Reset the board (press RESET, or unplug it and plug it back in): boot.py takes effect "
             "only after a hard reset, and it is what turns on the USB data channel Ether talks over.",
             "  2. Run `ether devices`: the board should answer with its id."]
    code_text = dep.code.read_text(errors="replace")
    if "CIRCUITPY_WIFI_SSID" in code_text:
        settings = root / "settings.toml"
        has = settings.is_file() and "CIRCUITPY_WIFI_SSID" in settings.read_text(errors="replace")
        if not has:
            lines.insert(1, f"  0. Put your Wi-Fi and host settings into {settings} (see "
                            "firmware/settings.toml.example): CIRCUITPY_WIFI_SSID, CIRCUITPY_WIFI_PASSWORD, "
                            "ETHER_HOST, ETHER_PORT.")
        lines[-1] = ("  2. Listen for it on the host: the board sends to ETHER_HOST:ETHER_PORT over UDP "
                     "(for example a devices: entry with link: udp://0.0.0.0:5005 and the board's "
                     "device_id).")
    return "\n".join(lines)
