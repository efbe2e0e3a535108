"""Put the simulated board modules in place of CircuitPython's, and wire their pins to models.

    from ether_lite.sim import install
    bench = install(device_id="thermo-1")      # before the device code imports board, digitalio, ...
    import board, digitalio                    # now the simulated ones
    bench.step(10.0)                           # a manual clock moves only when told

Only the simulator calls this; it changes ``sys.path`` and ``sys.modules`` of the current process.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable

from ether_lite.sim import bench as _bench_mod
from ether_lite.sim.bench import Bench
from ether_lite.sim.models import AnalogSource, Button, Heater, Led, Thermometer
from ether_lite.sim.thermal import SLOTS

BOARDMODS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "boardmods")
MODULES = ("board", "digitalio", "analogio", "microcontroller", "wifi")


def uid_for(device_id: str) -> bytes:
    """The ``microcontroller.cpu.uid`` bytes for an id: an even-length hex id is taken as the bytes it
    spells (``"e6614103e7452d2f"``), any other text gives 8 bytes of its SHA-256: stable for one id."""
    text = str(device_id)
    if text and len(text) % 2 == 0:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    return hashlib.sha256(text.encode("utf-8")).digest()[:8]


def default_wiring(bench: Bench) -> Bench:
    """The simulated board's standard parts, also set as attributes of the bench:

    ``bench.thermometer`` (read by ``microcontroller.cpu.temperature``), ``bench.heater`` on ``D5`` (a
    relay: high = full power, which warms the thermometer), ``bench.led`` on ``LED``, ``bench.button`` on
    ``BUTTON`` (to ground; read it with ``Pull.UP``), ``bench.adc`` on ``A0`` (1.65 V ± 1 V sine,
    10 s period, 5 mV noise).
    """
    bench.thermometer = Thermometer(bench)
    bench.cpu_thermometer = bench.thermometer
    bench.heater = bench.wire("D5", Heater(bench, slot=int.from_bytes(bench.uid[:2], "big") % SLOTS))
    bench.led = bench.wire("LED", Led())
    bench.button = bench.wire("BUTTON", Button())
    adc = AnalogSource(bench, volts=1.65, amplitude_v=1.0, period_s=10.0, noise_v=0.005)
    bench.adc = bench.wire("A0", adc)
    return bench


def install(bench: Bench | None = None, device_id: str = "sim-0",
            wiring: Callable[[Bench], object] | None = default_wiring) -> Bench:
    """Make ``import board, digitalio, analogio, microcontroller`` load the simulated modules, wired to
    ``bench`` (a new :class:`Bench` with :func:`default_wiring` when not given). Returns the bench."""
    if bench is None:
        bench = Bench(uid=uid_for(device_id))
        if wiring is not None:
            wiring(bench)
    _bench_mod.set_current(bench)
    if BOARDMODS in sys.path:
        sys.path.remove(BOARDMODS)
    sys.path.insert(0, BOARDMODS)
    for name in MODULES:
        sys.modules.pop(name, None)
    return bench


def uninstall() -> None:
    """Undo :func:`install`: the simulated modules leave ``sys.path`` and ``sys.modules``."""
    if BOARDMODS in sys.path:
        sys.path.remove(BOARDMODS)
    for name in MODULES:
        module = sys.modules.get(name)
        if module is not None and os.path.dirname(getattr(module, "__file__", "") or "") == BOARDMODS:
            del sys.modules[name]
    _bench_mod.set_current(None)
