"""The engine seam without Ray: a config without ``cluster:`` (or with ``engine: local``) runs local processes
and never imports Ray; ``engine: ray`` where Ray is missing stops ``tap`` saying what to install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import sys
{prelude}
from ether_medium import ether
from ether_medium.errors import EtherError
instance = {{"class_path": "examples.simple_data_processing.DataCollector"}}
config = {{"instances": {{"a": instance}}, **{extra}}}
try:
    ether.tap(config=config)
except EtherError as exc:
    print("refused:", exc)
else:
    ether.start()
    print("engine:", ether.launcher.engine.name)
    ether.shutdown()
print("ray imported:", "ray" in sys.modules)
"""


def _run(extra: str, prelude: str = "") -> str:
    code = SCRIPT.format(prelude=prelude, extra=extra)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_without_a_cluster_section_the_local_engine_runs_and_ray_is_never_imported() -> None:
    out = _run("{}")
    assert "engine: local" in out and "ray imported: False" in out, out
    out = _run('{"cluster": {"engine": "local"}}')
    assert "engine: local" in out and "ray imported: False" in out, out


def test_the_ray_engine_without_ray_installed_says_what_to_install() -> None:
    out = _run('{"cluster": {"engine": "ray"}}', prelude="sys.modules['ray'] = None  # as if not installed")
    assert "refused:" in out and "pip install 'ether-medium[ray]'" in out and "ETHER_ENGINE=local" in out, out
