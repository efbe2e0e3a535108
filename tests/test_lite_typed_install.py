"""A user's board program type-checks against ether_lite as pip installs it: the wheel carries ``py.typed``
and the stubs, so ``mypy --strict`` sees typed decorators and ``run()`` (PEP 561), not an untyped package."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROGRAM = '''\
from ether_lite import ether_pub, ether_sub, log, run
from ether_lite.clock import ticks_ms
from ether_lite.sim import install, uninstall


class Thermometer:
    @ether_pub(every=1.0, fields=[("celsius", "f")])
    def read(self) -> dict[str, float]:
        return {"celsius": 21.5 + ticks_ms() % 7}

    @ether_sub()
    def set_led(self, on: bool) -> None:
        log("led %s" % on)


install()
node = run(Thermometer(), link="udp://127.0.0.1:9000", until=lambda: True)
reading: dict[str, float] = Thermometer().read()
print(node.sent, reading)
uninstall()
'''


def test_a_users_board_program_type_checks_against_the_wheel(tmp_path: Path) -> None:
    # built from a copy: setuptools writes build/ beside the sources, and this test leaves the checkout alone
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("ether_medium", "ether_lite", "hil", "firmware", "examples/devices"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("ether_medium-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        zf.extractall(site)
    assert "ether_lite/py.typed" in names and "ether_lite/__init__.pyi" in names
    program = tmp_path / "board.py"
    program.write_text(PROGRAM, encoding="utf-8")
    # on PYTHONPATH, mypy treats the unpacked wheel as installed: it reads a package only if it has py.typed
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"),
         str(program)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
