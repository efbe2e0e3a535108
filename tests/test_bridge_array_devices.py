"""A board's arrays in the fabric, on the real interpreters (PROTOCOL.md, "Arrays"; docs/arrays.md).

The HIL conformance device (hil/devices/conformance.py) runs under MicroPython (the WebAssembly port in node)
and under CircuitPython 10.2.1's unix port (a drive as ``ether deploy`` writes it). Host code sends its
``set_wave`` an int16 ndarray through ``ether.device()``; the board keeps it as an ``array.array('h')`` and
publishes it back, as a typed array, on ``Thermometer.wave``; a decorated host class whose parameter is
annotated ``Array[np.int16, (None,)]`` receives a read-only int16 ndarray, and the recording exports to
HDF5 with an int16 dataset, as host arrays do.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import wait_until

from ether_medium import ether, ether_sub
from ether_medium.fabric.arrays import Array
from ether_medium.recorder.store import Store
from hil.targets import micropython_missing, start_target

WAVE = np.array([(i * 331) % 65536 - 32768 for i in range(100)], np.int16)


class WaveLogger:
    """A host instance: writes what each wave it receives is (type, dtype, values, writeable) to a file."""

    def __init__(self, path: str) -> None:
        self.path = path

    @ether_sub(topic="Thermometer.wave")
    def on_wave(self, samples: Array[np.int16, (None,)]) -> None:
        try:
            samples[0] = 0
            writeable = True
        except ValueError:
            writeable = False
        with open(self.path, "a") as f:
            f.write(json.dumps({"type": type(samples).__name__, "dtype": str(samples.dtype),
                                "values": samples.tolist(), "writeable": writeable}) + "\n")


def _require(name: str) -> None:
    if name == "micropython" and (why := micropython_missing()):
        pytest.skip(why)
    if name == "circuitpython":
        from hil import circuitpython

        circuitpython.require()


@pytest.mark.parametrize("name", ["micropython", "circuitpython"])
def test_a_boards_array_reaches_a_host_subscriber_as_an_ndarray(name: str, tmp_path: Path) -> None:
    _require(name)
    out = tmp_path / "waves.jsonl"
    db = tmp_path / "ether.sqlite"
    target = start_target(name, device_id=f"arrays-{name}")
    try:
        ether.tap(config={
            "instances": {"waves": {"class_path": f"{__name__}.WaveLogger", "kwargs": {"path": str(out)}}},
            "devices": {"board": {"link": target.link, "device_id": f"arrays-{name}"}},
            "recording": {"path": str(db), "topics": ["Thermometer.wave"]},
        })
        try:
            ether.start()
            board = ether.device("board", timeout=20)
            endpoints = {e["topic"]: e for e in board.info["endpoints"]}
            assert endpoints["Thermometer.wave"]["fields"] == [["samples", "[i2"]]
            board.set_wave(samples=WAVE)
            back = board.wait("wave", timeout=5, where=lambda v: len(v["samples"]) == len(WAVE))["samples"]
            assert isinstance(back, np.ndarray) and back.dtype == np.int16 and np.array_equal(back, WAVE)
            board.set_wave(samples=[1, -2, 3])  # a list is packed to the field's int16
            wait_until(lambda: out.exists() and len(out.read_text().splitlines()) >= 2, 10,
                       "two waves at the host subscriber", interval_s=0.02)
        finally:
            ether.shutdown()
    finally:
        target.stop()
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert got[0] == {"type": "ndarray", "dtype": "int16", "values": WAVE.tolist(), "writeable": False}
    assert got[1]["values"] == [1, -2, 3] and got[1]["dtype"] == "int16"

    store = Store.open_existing(db)
    try:
        sid = store.sessions()[-1].id
    finally:
        store.close()
    proc = subprocess.run([sys.executable, "-m", "ether_medium.cli", "export", sid, "--format", "hdf5",
                           "--db", str(db), "--out", str(tmp_path / "export")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(tmp_path / "export" / "session.h5", "r") as h5:
        waves = h5["Thermometer.wave"]["samples"]  # two lengths: one dataset per message
        assert waves["0"].dtype == np.int16 and np.array_equal(waves["0"][:], WAVE)
        assert waves["1"][:].tolist() == [1, -2, 3]
        assert [s.decode() for s in h5["Thermometer.wave"]["source"][:]] == ["board", "board"]
        assert not np.isnan(h5["Thermometer.wave"]["device_time"][:]).any()
