"""The example device classes against the simulated board, in-process: their methods drive the models,
and a real ether_lite Node serves them for a few polls over an in-memory link."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cbor2
import pytest

from ether_lite import Node, framing, protocol
from ether_lite.links.memory import memory_pair
from ether_lite.sim import Bench, install, uninstall

DEVICES = str(Path(__file__).resolve().parent.parent / "examples" / "devices")
MODULES = ("thermo", "heater", "analog", "pins")


@pytest.fixture
def sim() -> Iterator[Bench]:
    bench = install(device_id="bench-1")
    sys.path.insert(1, DEVICES)
    try:
        yield bench
    finally:
        sys.path.remove(DEVICES)
        for name in MODULES:
            sys.modules.pop(name, None)
        uninstall()


def test_thermometer_reads_the_simulated_cpu_sensor_and_drives_the_led(sim: Bench) -> None:
    from thermo import Thermometer

    sim.thermometer.noise_c = 0.0
    t = Thermometer()
    assert t.read() == {"celsius": pytest.approx(22.0)}
    t.set_led(on=True)
    assert sim.led.on
    sim.cpu_thermometer = None  # a chip without a temperature sensor: nothing to publish
    assert t.read() is None


def test_heater_relay_switches_the_simulated_heater(sim: Bench) -> None:
    from heater import Heater

    h = Heater()
    assert h.state() == {"on": False, "power": 0.0}
    h.set_power(on=True)
    assert sim.heater.on and h.state() == {"on": True, "power": 1.0}
    h.set_power(power=0.0)
    assert not sim.heater.on
    with pytest.raises(ValueError, match=r"0\.0\.\.1\.0"):
        h.set_power(power=1.5)
    h.set_power(power=0.999)  # time-proportioned: at the start of its window the relay is on
    assert sim.heater.on


def test_analog_input_reads_the_simulated_adc(sim: Bench) -> None:
    from analog import AnalogInput

    sim.adc.noise_v = 0.0
    sim.adc.set_volts(1.1)
    reading = AnalogInput().read()
    assert reading["raw"] == round(1.1 / 3.3 * 65535)
    assert reading["volts"] == pytest.approx(1.1, abs=1e-4)


def _messages(link: Any) -> list[list[Any]]:
    buf = bytearray(4096)
    n = link.readinto(buf)
    return [cbor2.loads(body) for body in framing.FrameDecoder().frames(bytes(buf[:n]))]


def test_a_node_serves_all_three_devices_for_a_few_polls(sim: Bench) -> None:
    from analog import AnalogInput
    from heater import Heater
    from thermo import Thermometer

    device, host = memory_pair()
    node = Node([Thermometer(), Heater(), AnalogInput()], device)
    try:
        for _ in range(3):
            node.poll()
        msgs = _messages(host)
        hello = next(m for m in msgs if protocol.kind_of(m[0]) == protocol.HELLO)
        assert hello[1] == sim.uid.hex()  # the Node took the simulated microcontroller.cpu.uid
        names = {m[2] for m in msgs if protocol.kind_of(m[0]) == protocol.DESCRIBE}
        assert {"Thermometer.read", "Thermometer.set_led", "Heater.set_power", "Heater.state",
                "AnalogInput.read"} <= names
        assert sum(protocol.kind_of(m[0]) == protocol.PUB for m in msgs) >= 3
    finally:
        node.close()
