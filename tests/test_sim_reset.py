"""``ether sim`` restarts the device code on ``microcontroller.reset()`` as a board does (new boot id, same
link), so the HIL suite, reset check included, passes against a simulated device on a pty."""

from __future__ import annotations

import re
import subprocess
import sys

from test_sim_link import ROOT, sim_process


def test_the_hil_suite_passes_against_ether_sim_on_a_pty() -> None:
    device = "hil/devices/conformance.py:Thermometer"
    with sim_process(device, "--link", "pty", "--id", "conf-1") as (proc, line):
        m = re.search(r"on pty (/dev/\S+)", line)
        assert m is not None, line
        suite = subprocess.run(
            [sys.executable, "-m", "pytest", "hil/test_conformance.py", "-q", "-p", "no:cacheprovider",
             f"--hil-link=serial://{m.group(1)}"],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
        assert proc.poll() is None, "ether sim exited (on the reset?)"
    assert suite.returncode == 0, suite.stdout[-3000:] + suite.stderr[-2000:]
    assert re.search(r"re-describe after reset\s+PASS", suite.stdout), suite.stdout
    assert proc.stdout is not None
    assert "ether sim: microcontroller.reset(): restarting hil/devices/conformance.py:Thermometer (reset 1)" \
        in proc.stdout.read().decode(errors="replace")
