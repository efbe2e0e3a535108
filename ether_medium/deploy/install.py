"""``ether deploy``: copy ether_lite, ``boot.py``, the chosen ``code.py`` and its device modules onto a board.

:func:`deploy` finds the drive (:mod:`~ether_medium.deploy.drive`), stages what it will write
(:mod:`~ether_medium.deploy.deployment`), refuses before writing anything when that would replace other code
or not fit, then writes every file that changed (each one synced, as the board may be unplugged at once) and
says what to do next.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ether_medium.deploy.compiler import find_mpy_cross
from ether_medium.deploy.deployment import Deployment, conflicts, needed_bytes, plan, resolve_code
from ether_medium.deploy.drive import DRIVE_PATTERNS, BoardInfo, find_drive, parse_boot_out
from ether_medium.errors import DeployError

__all__ = ["ENV_FREE", "DeployResult", "deploy"]

ENV_FREE = "ETHER_DEPLOY_FREE_BYTES"  # pretend the drive has this much free space (tests, dry checks)


@dataclass(frozen=True)
class DeployResult:
    drive: Path
    board: BoardInfo
    written: list[str]
    unchanged: list[str]
    bytes_written: int
    compiled: bool
    next_steps: str


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

    replaced = conflicts(dep)
    if replaced and not force:
        shown = f" --code {code}" if code is not None else ""
        raise DeployError(
            f"{root} already holds different files: " + "; ".join(replaced) + ". Nothing was copied. "
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
