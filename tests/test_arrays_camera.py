"""examples/camera.py as a user runs it (shorter): 30 fps of 4 MB frames, statistics per frame, recording
on; no frame dropped, and the HDF5 export h5py reads back bit-identical to what the camera rendered."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py

ROOT = Path(__file__).resolve().parent.parent


def test_camera_runs_without_a_dropped_frame_and_exports_bit_identical(tmp_path: Path) -> None:
    db, out = tmp_path / "camera.sqlite", tmp_path / "export"
    proc = subprocess.Popen([sys.executable, "-m", "examples.camera", "--seconds", "2", "--db", str(db),
                             "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "ETHER_LOG_LEVEL": "WARNING"})
    try:
        text, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, text
    assert "no frame dropped, export identical" in text
    with h5py.File(out / "session.h5", "r") as h5:
        frames = h5["Camera.frame"]["frame"]
        assert frames.dtype == "float32" and frames.shape[1:] == (1024, 1024) and frames.shape[0] >= 50
        assert len(h5["Camera.frame"]["host_time"]) == frames.shape[0]
