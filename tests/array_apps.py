"""Decorated classes that publish and receive numpy arrays (the array tests run them as instances)."""

from __future__ import annotations

import hashlib
import time
from typing import Annotated

import numpy as np

from ether_medium import ether_pub, ether_sub
from ether_medium.fabric.arrays import Array, ArraySpec


def frame(n: int, size: int, dtype: str = "float32") -> np.ndarray:
    """The frame number ``n`` of ``size`` elements: deterministic, so both sides know it."""
    return (np.arange(size, dtype=np.float64) * 0.5 + n).astype(dtype)


class Source:
    @ether_sub(topic="Source.make")
    @ether_pub(topic="frames")
    def make(self, n: int, size: int, dtype: str = "float32") -> dict:
        return {"frame": frame(n, size, dtype), "n": n, "gain": np.float32(1.5)}

    @ether_sub(topic="Source.strings")
    @ether_pub(topic="frames")
    def strings(self) -> dict:
        return {"frame": np.array(["a", "b"]), "n": -1}

    @ether_sub(topic="Source.nested")
    @ether_pub(topic="frames")
    def nested(self) -> dict:
        return {"frame": frame(0, 4), "n": -2, "channels": {"a": frame(1, 4)}}


class Stats:
    @ether_sub(topic="frames")
    @ether_pub(topic="stats")
    def on_frame(self, frame: Array[np.float32, (None,)], n: int, gain: float = 0.0) -> dict:
        try:
            frame[0] = 0
            writable = True
        except ValueError:
            writable = False
        return {"n": n, "sum": float(frame.astype(np.float64).sum()), "size": int(frame.size),
                "sha": hashlib.sha256(frame.tobytes()).hexdigest(), "writable": writable, "gain": gain}


class AnyStats:
    """Takes any array (a plain ``np.ndarray`` annotation) and one without annotation."""

    @ether_sub(topic="frames")
    @ether_pub(topic="anystats")
    def on_frame(self, frame: np.ndarray, n) -> dict:  # type: ignore[no-untyped-def]
        return {"n": n, "dtype": str(frame.dtype), "shape": list(frame.shape)}


class Square:
    @ether_sub(topic="frames")
    @ether_pub(topic="squared")
    def on_frame(self, frame: Annotated[np.ndarray, ArraySpec("float32", (4, 4))], n: int) -> dict:
        return {"n": n, "ok": True}


class SlowStats(Stats):
    """Takes its time over the first frame: the publisher goes round its ring meanwhile."""

    @ether_sub(topic="frames")
    @ether_pub(topic="stats")
    def on_frame(self, frame: Array[np.float32, (None,)], n: int, gain: float = 0.0) -> dict:
        if n == 0:
            from ether_medium import ether

            ether.publish("slow.holding", n=0)  # the test goes on once the slot of frame 0 is held
            time.sleep(1.0)
        return super().on_frame.__wrapped__(self, frame, n, gain)  # the checksum is taken after the wait
