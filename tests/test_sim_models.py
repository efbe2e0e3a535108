"""The simulated hardware models: thermal physics, noise and drift, pins, all on a stepped clock."""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pytest

from ether_lite.sim import (
    AnalogSource,
    Bench,
    Button,
    Heater,
    Led,
    ManualClock,
    PowerBus,
    Thermometer,
    Wire,
    default_wiring,
)


@runtime_checkable
class TemperatureSensor(Protocol):
    @property
    def celsius(self) -> float: ...


@runtime_checkable
class DigitalSink(Protocol):
    def drive(self, level: bool) -> None: ...


@runtime_checkable
class DigitalSource(Protocol):
    def sense(self, pull: Any) -> bool: ...


@runtime_checkable
class AnalogInput(Protocol):
    reference_volts: float

    def volts(self) -> float: ...


def test_every_model_speaks_its_pin_contract() -> None:
    bench = Bench()
    assert isinstance(Thermometer(bench), TemperatureSensor)
    for sink in (Heater(bench), Led(), Wire()):
        assert isinstance(sink, DigitalSink), type(sink).__name__
    for source in (Button(), Wire()):
        assert isinstance(source, DigitalSource), type(source).__name__
    assert isinstance(AnalogSource(bench), AnalogInput)


def test_heater_warms_the_thermometer_along_a_first_order_curve() -> None:
    bench = Bench(ambient_c=20.0, tau_s=30.0, rise_c_per_w=0.5)
    heater = Heater(bench, watts=20.0)  # steady state 20 + 0.5 * 20 = 30 °C
    thermo = Thermometer(bench, noise_c=0.0, drift_c_per_h=0.0)
    assert thermo.celsius == pytest.approx(20.0)
    heater.set_power(1.0)
    bench.step(30.0)  # one time constant: 63.2 % of the way
    assert thermo.celsius == pytest.approx(20.0 + 10.0 * (1 - math.exp(-1)), abs=1e-9)
    bench.step(300.0)
    assert thermo.celsius == pytest.approx(30.0, abs=1e-3)
    heater.set_power(0.0)
    bench.step(30.0)
    assert thermo.celsius == pytest.approx(20.0 + 10.0 * math.exp(-1), abs=1e-3)
    assert heater.switches == 2


def test_thermal_result_does_not_depend_on_how_often_it_is_read() -> None:
    coarse, fine = Bench(), Bench()
    for b in (coarse, fine):
        Heater(b).set_power(0.5)
    coarse.step(10.0)
    for _ in range(1000):
        fine.step(0.01)
        fine.thermal.update()
    assert coarse.thermal.celsius == pytest.approx(fine.thermal.celsius, abs=1e-9)


def test_thermometer_noise_and_drift_are_as_configured_and_reproducible() -> None:
    def readings(seed: int) -> list[float]:
        bench = Bench(seed=seed)
        thermo = Thermometer(bench, noise_c=0.1, drift_c_per_h=0.0)
        return [thermo.celsius for _ in range(2000)]

    a, b, c = readings(1), readings(1), readings(2)
    assert a == b and a != c
    assert statistics.pstdev(a) == pytest.approx(0.1, rel=0.1)
    assert statistics.fmean(a) == pytest.approx(22.0, abs=0.01)

    bench = Bench()
    drifting = Thermometer(bench, noise_c=0.0, drift_c_per_h=0.6)
    bench.step(1800.0)
    assert drifting.celsius - drifting.true_celsius() == pytest.approx(0.3)


def test_analog_source_sine_clamp_and_set() -> None:
    bench = Bench()
    adc = AnalogSource(bench, volts=1.65, amplitude_v=1.0, period_s=4.0)
    assert adc.volts() == pytest.approx(1.65)
    bench.step(1.0)
    assert adc.volts() == pytest.approx(2.65)
    adc.set_volts(5.0)
    assert adc.volts() == 3.3  # clamped to the reference like a real ADC


def test_button_levels_follow_pull_and_wiring() -> None:
    button = Button()
    assert button.sense("UP") is True
    button.press()
    assert button.sense("UP") is False
    high = Button(active_high=True)
    high.press()
    assert high.sense("DOWN") is True


def test_heater_refuses_power_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"0\.0\.\.1\.0"):
        Heater(Bench()).set_power(1.5)


def test_manual_clock_refuses_to_go_back() -> None:
    with pytest.raises(ValueError, match="cannot go back"):
        ManualClock().advance(-1.0)


def test_power_bus_file_shares_heat_between_two_benches(tmp_path: Path) -> None:
    """A heater on one simulated board warms a thermometer on another (two processes in `ether sim`)."""
    path = str(tmp_path / "rig.world")
    heater_side = Bench(power_bus=PowerBus(path))
    thermo_side = Bench(power_bus=PowerBus(path))
    try:
        default_wiring(heater_side).heater.set_power(1.0)
        thermo_side.step(300.0)
        expected = thermo_side.thermal.steady_state_c(20.0)
        assert thermo_side.thermal.celsius == pytest.approx(expected, abs=1e-3)
    finally:
        heater_side.power_bus.close()
        thermo_side.power_bus.close()


def test_an_idle_heater_model_does_not_switch_off_another_boards_heater(tmp_path: Path) -> None:
    path = str(tmp_path / "rig.world")
    heater_board = default_wiring(Bench(power_bus=PowerBus(path), uid=b"\x01\x02"))
    heater_board.heater.set_power(1.0)
    thermo_board = default_wiring(Bench(power_bus=PowerBus(path), uid=b"\x03\x04"))  # starts later
    try:
        assert thermo_board.power_bus.total() == pytest.approx(20.0)
    finally:
        heater_board.power_bus.close()
        thermo_board.power_bus.close()
