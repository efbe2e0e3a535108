"""An installed wheel works outside a source checkout: ``ether --version``, ``ether deploy`` (ether_lite, the
firmware templates and the device modules they import ship as package data) and ``ether sim`` of a module on
the user's own path.

The wheel is built from this checkout (``pip wheel``) and installed into a fresh venv; its dependencies come
from this venv through a ``.pth`` line (installing them from an index again would only cost time), so the
``ether_medium`` and ``ether_lite`` it imports are the wheel's, never the checkout's (asserted)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOT_OUT = "Adafruit CircuitPython 9.2.1 on 2024-11-20; Raspberry Pi Pico with rp2040\n"
BOARD = '''
from ether_lite import ether_pub


class Board:
    @ether_pub(every=0.1)
    def read(self) -> float:
        return 1.0
'''


def _installed(tmp: Path) -> Path:
    """A fresh venv in ``tmp`` with the wheel of this checkout installed; its bin directory."""
    wheels = tmp / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("ether_medium-*.whl")
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                    str(wheel)], check=True, capture_output=True, timeout=300)
    return env_dir / "bin"


def test_a_wheel_installed_in_a_fresh_venv_deploys_and_simulates(tmp_path: Path) -> None:
    bindir = _installed(tmp_path)
    user = tmp_path / "elsewhere"  # the user's folder, outside the checkout
    user.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ETHER_", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"

    def ether(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(bindir / "ether"), *args], cwd=user, env={**env, **extra},
                              capture_output=True, text=True, timeout=60)

    where = subprocess.run([str(bindir / "python"), "-c", "import ether_medium, ether_lite; "
                            "print(ether_medium.__file__); print(ether_lite.__file__)"],
                           cwd=user, env=env, capture_output=True, text=True, check=True).stdout
    assert str(ROOT) not in where and str(tmp_path / "venv") in where, where

    version = ether("--version")
    assert version.returncode == 0 and re.match(r"ether-medium \S+ \(protocol \d+, ether_lite \S+\)",
                                                version.stdout), version

    drive = user / "CIRCUITPY"
    (drive / "lib").mkdir(parents=True)
    (drive / "boot_out.txt").write_text(BOOT_OUT)
    deployed = ether("deploy", str(drive), "--force", ETHER_MPY_CROSS="")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert (drive / "boot.py").is_file() and "usb_cdc" in (drive / "boot.py").read_text()
    assert "from thermo import Thermometer" in (drive / "code.py").read_text()
    assert (drive / "thermo.py").is_file()  # the device module the template imports
    assert (drive / "lib" / "ether_lite" / "__init__.py").is_file()

    (user / "myboard.py").write_text(BOARD)
    for device in ("myboard:Board", "thermo:Thermometer"):
        sim = ether("sim", device, "--link", "pty", "--duration", "0.5")
        assert sim.returncode == 0, sim.stdout + sim.stderr
        assert f"ether sim: {device} as device" in sim.stdout
