"""A simulated camera at 30 fps of 1024x1024 float32 frames, a subscriber computing statistics per frame,
recording on; afterwards the session is exported to HDF5 and read back.

    python -m examples.camera [--seconds 10] [--db ether_data/camera.sqlite] [--out DIR]

The camera fills each frame in a slot of its shared-memory ring (``loan_array``: no copy on the way to the
subscribers and the recorder) and publishes it with its index; ``FrameStatistics`` receives it as a
read-only ndarray (valid during the call: it keeps numbers, not the frame). The recorder stores every frame
in the session's array file. At the end the example prints what was published, analysed and dropped, exports
the session to ``session.h5`` and checks with h5py that every frame there is bit-identical to the one the
camera rendered. Exit code 0 when no frame was dropped and all match.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cbor2
import numpy as np

from ether_medium import ether, ether_cleanup, ether_pub, ether_save, ether_start, ether_sub
from ether_medium.fabric.arrays import Array, loan_array

CONFIG = Path(__file__).resolve().parent / "config" / "camera.yaml"


def render(index: int, side: int = 1024, seed: int = 0, out: np.ndarray | None = None,
           bank: np.ndarray | None = None) -> np.ndarray:
    """Frame ``index``: one of four noise images with a bright line moving down it (a pure function of its
    arguments, so a test can render it again)."""
    if bank is None:
        bank = noise_bank(side, seed)
    frame = np.empty((side, side), np.float32) if out is None else out
    np.copyto(frame, bank[index % len(bank)])
    frame[index % side, :] = 1.0
    return frame


def noise_bank(side: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((4, side, side), dtype=np.float32)


class SimulatedCamera:
    """Publishes ``Camera.frame`` ``{"frame", "index", "exposure_s"}`` at ``fps`` from ``ether_start`` on."""

    def __init__(self, fps: float = 30.0, side: int = 1024, seed: int = 0):
        self.period_s = 1.0 / fps
        self.side, self.seed = side, seed
        self.bank = noise_bank(side, seed)
        self.index = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @ether_pub(topic="Camera.frame")
    def capture(self) -> dict:
        frame = loan_array("Camera.frame", (self.side, self.side), np.float32)
        render(self.index, self.side, out=frame, bank=self.bank)  # the driver writes into the slot
        self.index += 1
        return {"frame": frame, "index": self.index - 1, "exposure_s": 0.01}

    @ether_start()
    def start_capturing(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_s = time.monotonic()
        while not self._stop.is_set():
            self.capture()
            next_s += self.period_s
            self._stop.wait(max(0.0, next_s - time.monotonic()))

    @ether_cleanup()
    def stop_capturing(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    @ether_save()
    def summary(self) -> dict:
        self.stop_capturing()  # the count is final
        return {"published": self.index}


class FrameStatistics:
    """Mean and maximum of every frame on ``Camera.stats``; counts frames it never saw."""

    def __init__(self) -> None:
        self.analysed = 0
        self.missed = 0
        self.expected = 0

    @ether_sub(topic="Camera.frame")
    @ether_pub(topic="Camera.stats")
    def on_frame(self, frame: Array[np.float32, (None, None)], index: int, exposure_s: float) -> dict:
        self.missed += index - self.expected
        self.expected = index + 1
        self.analysed += 1
        return {"index": index, "mean": float(frame.mean()), "max": float(frame.max())}

    @ether_save()
    def summary(self) -> dict:
        from ether_medium.fabric import shm

        return {"analysed": self.analysed, "missed": self.missed, "dropped": shm.dropped}


def _saved(db: Path) -> tuple[Any, dict[str, dict[str, Any]]]:
    """The latest session in ``db`` and what each instance's ``ether_save`` returned."""
    from ether_medium.recorder.store import Store

    store = Store.open_existing(db)
    try:
        session = store.sessions()[-1]
        saved = {row[2]: cbor2.loads(row[8]) for row in store.messages(session.id, ["Ether.saved"])}
        return session, saved
    finally:
        store.close()


def check_export(h5_path: Path, side: int = 1024) -> dict[str, int]:
    """From the exported recording: frames recorded, how many are bit-identical to what the camera rendered,
    frame indices missing (gaps), and frames without statistics."""
    import h5py

    bank = noise_bank(side, 0)
    with h5py.File(h5_path, "r") as h5:
        frames, indices = h5["Camera.frame"]["frame"], h5["Camera.frame"]["index"][:]
        same = sum(frames[k].tobytes() == render(int(i), side, bank=bank).tobytes()
                   for k, i in enumerate(indices))
        analysed = set(h5["Camera.stats"]["index"][:].tolist()) if "Camera.stats" in h5 else set()
    recorded = set(indices.tolist())
    gaps = (max(recorded) + 1 - len(recorded)) if recorded else 0
    return {"frames": len(indices), "identical": int(same), "gaps": gaps,
            "unanalysed": len(recorded - analysed)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--db", type=Path, default=Path("ether_data/camera.sqlite"))
    parser.add_argument("--out", type=Path, help="export directory (default: export/<session> beside --db)")
    args = parser.parse_args()
    import yaml

    config = yaml.safe_load(CONFIG.read_text())
    config["recording"]["path"] = str(args.db)
    ether.tap(config=config)
    try:
        ether.start()
        time.sleep(args.seconds)  # the camera runs in its own process
    finally:
        ether.shutdown()

    from ether_medium.recorder.hdf5 import export_hdf5
    from ether_medium.recorder.store import Store

    session, saved = _saved(args.db)
    published = saved.get("camera", {}).get("published", 0)
    dropped = saved.get("stats", {}).get("dropped", 0)
    out = args.out or args.db.parent / "export" / session.id
    store = Store.open_existing(args.db)
    try:
        export_hdf5(store, session, out)
    finally:
        store.close()
    found = check_export(out / "session.h5")
    lost = found["gaps"] + found["unanalysed"] + dropped + (published - found["frames"])
    print(f"camera: {published} frames published in {args.seconds:g} s ({published / args.seconds:.1f} fps); "
          f"{found['frames']} recorded; statistics computed for all but {found['unanalysed']}; "
          f"{dropped} dropped by the subscriber")
    print(f"HDF5 export {out / 'session.h5'}: {found['identical']} of {found['frames']} frames bit-identical "
          "to the camera's")
    ok = lost == 0 and published > 0 and found["identical"] == found["frames"]
    print("no frame dropped, export identical" if ok else "FAILED: frames were lost or differ")
    return 0 if ok else 1


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parent.parent)  # class paths are relative to the project
    sys.exit(main())
