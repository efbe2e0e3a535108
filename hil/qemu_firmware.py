"""The emulated board's firmware: MicroPython 1.28.0's QEMU port (``mps2-an385``, a Cortex-M3) with
ether_lite and the conformance device (``hil/devices/conformance.py``) frozen in.

Built once into ``.venv/qemu/`` (``make deps`` does it) and again only when what is frozen changes: the
stamp holds a hash of every frozen file, the manifests and where the MicroPython source came from. The
source is the first of:

1. ``../shared/micropython/`` next to the repository (its ``build.sh`` and source tarball; CI has it);
2. the directory named by ``ETHER_MICROPYTHON_SRC``: a MicroPython 1.28.0 source tree (a git checkout of
   the ``v1.28.0`` tag or the release tarball unpacked);
3. upstream: ``git clone --depth 1 --branch v1.28.0 https://github.com/micropython/micropython`` into
   ``.venv/qemu/`` (needs the internet once).

It needs ``arm-none-eabi-gcc`` with newlib, ``make`` and a host C compiler (``make deps`` installs the
Debian packages ``gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm`` when they are missing).
``firmware/qemu_idle.h`` makes the emulated CPU sleep while MicroPython waits, as real ports do.

    python -m hil.qemu_firmware      # build if needed; prints the firmware's path, or why it cannot
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".venv" / "qemu"
FIRMWARE = OUT / "bin" / "firmware.elf"
STAMP = OUT / "firmware.stamp"
SHARED = ROOT.parent / "shared" / "micropython"
ENV_SRC = "ETHER_MICROPYTHON_SRC"
UPSTREAM = "https://github.com/micropython/micropython"
TAG = "v1.28.0"
MANIFEST = ROOT / "firmware" / "manifest.py"
IDLE = ROOT / "firmware" / "qemu_idle.h"
DEVICE = ROOT / "hil" / "devices" / "conformance.py"
BUILD_TIMEOUT_S = 900


class FirmwareUnavailable(RuntimeError):
    """The firmware cannot be built here; the message says why and what to do."""


def frozen_files() -> list[Path]:
    """Everything the firmware freezes or is built from in this repository (what the stamp hashes)."""
    from ether_medium.deploy.board_files import board_files  # `ether deploy`'s rule; the manifest's too

    rule = ROOT / "ether_medium" / "deploy" / "board_files.py"
    return [*board_files(ROOT / "ether_lite"), DEVICE, MANIFEST, IDLE, rule, Path(__file__)]


def _source() -> tuple[str, Path]:
    """``(kind, path)``: "shared" (a build.sh and tarball), "tree" (a source tree) or "upstream"."""
    if (SHARED / "build.sh").is_file():
        return "shared", SHARED
    env = os.environ.get(ENV_SRC)
    if env:
        src = Path(env).expanduser().resolve()
        if not (src / "py" / "mpconfig.h").is_file() or not (src / "ports" / "qemu").is_dir():
            raise FirmwareUnavailable(f"{ENV_SRC}={env} is not a MicroPython source tree (no py/mpconfig.h "
                                      "or ports/qemu): point it at a checkout of the v1.28.0 tag")
        return "tree", src
    return "upstream", OUT / f"micropython-{TAG}"


def _digest(kind: str, src: Path) -> str:
    h = hashlib.sha256(f"{kind}:{src}\n".encode())
    for path in frozen_files():
        h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def missing_tools() -> str | None:
    """What is missing to build and run the firmware, or None."""
    lacking = [t for t in ("arm-none-eabi-gcc", "qemu-system-arm", "make", "cc") if shutil.which(t) is None]
    if not lacking:
        probe = subprocess.run(["arm-none-eabi-gcc", "-E", "-x", "c", "-"], input=b"#include <string.h>\n",
                               capture_output=True, check=False)
        if probe.returncode:
            lacking.append("newlib for arm-none-eabi")
    if lacking:
        return (f"{', '.join(lacking)} missing: run `make deps`, or apt-get install gcc-arm-none-eabi "
                "libnewlib-arm-none-eabi qemu-system-arm")
    return None


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """One build at a time (make and a test run, or two test runs)."""
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run(cmd: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    with open(log, "ab") as out:
        out.write(f"$ {' '.join(cmd)}\n".encode())
        out.flush()
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                              timeout=BUILD_TIMEOUT_S, check=False)
    if proc.returncode:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise FirmwareUnavailable(f"{cmd[0]} failed (exit {proc.returncode}); the end of {log}:\n{tail}")


def _build(kind: str, src: Path, log: Path) -> None:
    manifest = OUT / "manifest.py"  # a user's board manifest would say the same
    manifest.write_text(f"include({str(MANIFEST)!r}, device={str(DEVICE)!r})\n")
    extra = f"-include {IDLE}"
    if kind == "shared":
        _run(["bash", str(src / "build.sh"), str(OUT), str(manifest)], log,
             env={**os.environ, "CFLAGS_EXTRA": extra})
        return
    if kind == "upstream" and not (src / "py" / "mpconfig.h").is_file():
        if shutil.which("git") is None:
            raise FirmwareUnavailable(f"no MicroPython source: no {SHARED}, no {ENV_SRC}, and git is missing")
        shutil.rmtree(src, ignore_errors=True)
        _run(["git", "clone", "-q", "--depth", "1", "--branch", TAG, UPSTREAM, str(src)], log)
    jobs = str(os.cpu_count() or 2)
    _run(["make", "-s", "-C", str(src / "mpy-cross"), f"-j{jobs}"], log)
    no_lib = OUT / "no-micropython-lib"  # nothing from micropython-lib is frozen; the build wants the folder
    no_lib.mkdir(exist_ok=True)
    (no_lib / "README.md").touch()
    build = OUT / "build-qemu"
    shutil.rmtree(build, ignore_errors=True)
    _run(["make", "-s", "-C", str(src / "ports" / "qemu"), f"-j{jobs}", "BOARD=MPS2_AN385", f"BUILD={build}",
          f"FROZEN_MANIFEST={manifest}", f"MPY_LIB_DIR={no_lib}", f"CFLAGS_EXTRA={extra}"], log)
    FIRMWARE.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(build / "firmware.elf", FIRMWARE)


def ensure_firmware() -> Path:
    """The firmware, built first if missing or stale. Raises FirmwareUnavailable with the reason."""
    if why := missing_tools():
        raise FirmwareUnavailable(why)
    kind, src = _source()
    with _locked():
        digest = _digest(kind, src)
        if FIRMWARE.is_file() and STAMP.is_file() and STAMP.read_text().strip() == digest:
            return FIRMWARE
        log = OUT / "build.log"
        log.write_text(f"building the QEMU firmware from {kind} {src}\n")
        STAMP.unlink(missing_ok=True)
        try:
            _build(kind, src, log)
        except subprocess.TimeoutExpired as exc:
            raise FirmwareUnavailable(f"the build took over {BUILD_TIMEOUT_S} s (log: {log})") from exc
        if not FIRMWARE.is_file():
            raise FirmwareUnavailable(f"the build ended without {FIRMWARE} (log: {log})")
        STAMP.write_text(digest + "\n")
        return FIRMWARE


def firmware_or_reason() -> tuple[Path | None, str]:
    """``(firmware, "")``, or ``(None, why it cannot be had)``."""
    try:
        return ensure_firmware(), ""
    except FirmwareUnavailable as exc:
        return None, str(exc)


def firmware_or_skip() -> Path:
    """For tests: the firmware, else skip with the reason; with ``CI`` set, fail instead (CI must have it)."""
    import pytest

    firmware, why = firmware_or_reason()
    if firmware is None:
        if os.environ.get("CI"):
            pytest.fail(f"the emulated board is needed in CI: {why}")
        pytest.skip(f"emulated board: {why}")
    return firmware


def main() -> int:
    firmware, why = firmware_or_reason()
    if firmware is None:
        print(f"QEMU firmware unavailable: {why}", file=sys.stderr)
        return 1
    print(firmware)
    return 0


if __name__ == "__main__":
    sys.exit(main())
