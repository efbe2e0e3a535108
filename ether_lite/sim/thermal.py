"""A first-order thermal model: heaters warm a mass that loses heat to the room.

    dT/dt = (T_ambient + rise_c_per_w * P - T) / tau_s

For power ``P`` constant over a step the solution is exact, so the result does not depend on how
often the model is read. Heater power travels over a :class:`PowerBus`: in-process by default, or
through a small shared file so a heater simulated in one process warms a thermometer simulated in
another (``ether sim --world FILE``).
"""

from __future__ import annotations

import math
import mmap
import os
import struct
from typing import Protocol

SLOTS = 64  # one per heater; a simulated board picks its slot from its uid
_SLOT = struct.Struct("<d")


class Clocked(Protocol):
    """What the thermal model reads of its bench (:class:`ether_lite.sim.bench.Bench`): time and heater power."""

    power_bus: PowerBus

    def now(self) -> float: ...


class PowerBus:
    """Heater power in watts by slot. ``path=None`` keeps it in memory; a path shares it between processes."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = path
        self._mem: mmap.mmap | None = None
        self._local = [0.0] * SLOTS
        if path is not None:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if os.fstat(fd).st_size < SLOTS * _SLOT.size:
                    os.ftruncate(fd, SLOTS * _SLOT.size)
                self._mem = mmap.mmap(fd, SLOTS * _SLOT.size)
            finally:
                os.close(fd)

    def set(self, slot: int, watts: float) -> None:
        if not 0 <= slot < SLOTS:
            raise ValueError(f"power bus slot {slot!r} is out of range 0..{SLOTS - 1}")
        if self._mem is not None:
            _SLOT.pack_into(self._mem, slot * _SLOT.size, float(watts))
        else:
            self._local[slot] = float(watts)

    def total(self) -> float:
        if self._mem is not None:
            mem = self._mem
            return sum(float(_SLOT.unpack_from(mem, i * _SLOT.size)[0]) for i in range(SLOTS))
        return sum(self._local)

    def close(self) -> None:
        if self._mem is not None:
            self._mem.close()
            self._mem = None


class ThermalMass:
    """The temperature of the thing the thermometer touches, brought up to ``bench.now()`` on each read."""

    def __init__(self, bench: Clocked, ambient_c: float = 22.0, tau_s: float = 30.0,
                 rise_c_per_w: float = 0.5) -> None:
        if tau_s <= 0:
            raise ValueError(f"tau_s must be > 0 (seconds), got {tau_s!r}")
        self.bench = bench
        self.ambient_c = float(ambient_c)
        self.tau_s = float(tau_s)
        self.rise_c_per_w = float(rise_c_per_w)
        self._t_c = float(ambient_c)
        self._at_s = bench.now()

    def steady_state_c(self, watts: float) -> float:
        return self.ambient_c + self.rise_c_per_w * watts

    def update(self) -> float:
        """Integrate up to now with the power that has been applied since the last update."""
        now = self.bench.now()
        dt = now - self._at_s
        if dt > 0:
            target = self.steady_state_c(self.bench.power_bus.total())
            self._t_c = target + (self._t_c - target) * math.exp(-dt / self.tau_s)
            self._at_s = now
        return self._t_c

    @property
    def celsius(self) -> float:
        return self.update()
