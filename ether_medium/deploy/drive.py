"""The board's CIRCUITPY drive: finding the one that is mounted, and what its ``boot_out.txt`` says about the
board (CircuitPython version, board, chip, board id, uid)."""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ether_medium.errors import DeployError

__all__ = ["DRIVE_PATTERNS", "ENV_DRIVE", "BoardInfo", "find_drive", "parse_boot_out"]

DRIVE_PATTERNS: tuple[str, ...] = (
    "/media/*/CIRCUITPY",
    "/run/media/*/CIRCUITPY",
    "/media/CIRCUITPY",
    "/mnt/CIRCUITPY",
    "/Volumes/CIRCUITPY",
)
ENV_DRIVE = "ETHER_CIRCUITPY"  # path of the drive, skips the search

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
