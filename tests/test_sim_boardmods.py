"""The simulated board modules: CircuitPython code runs unchanged against them, with the real API.

The API reference is the `circuitpython-stubs` distribution (the .pyi files Adafruit generates from
CircuitPython's sources): every public name of the stub classes and modules we stand in for must exist
in ours, with the same parameters.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ether_lite.sim import Bench, install, uid_for, uninstall
from ether_lite.sim.install import BOARDMODS

STANDS_IN_FOR = {
    "digitalio": ["DigitalInOut", "Direction", "DriveMode", "Pull"],
    "analogio": ["AnalogIn", "AnalogOut"],
    "microcontroller": ["Pin", "Processor", "ResetReason", "RunMode"],
    "board": [],
}


@pytest.fixture
def sim() -> Iterator[Bench]:
    bench = install(device_id="e6614103e7452d2f")
    try:
        yield bench
    finally:
        uninstall()


def _stub_tree(module: str) -> ast.Module:
    spec = importlib.util.find_spec(f"{module}-stubs")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("circuitpython-stubs is not installed (it is in the dev extra: pip install -e '.[dev]')")
    path = Path(next(iter(spec.submodule_search_locations))) / "__init__.pyi"
    return ast.parse(path.read_text())


def _public_members(body: list[ast.stmt]) -> dict[str, ast.stmt]:
    out: dict[str, ast.stmt] = {}
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            name = node.name
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name = node.target.id
        else:
            continue
        if not name.startswith("_") or name in ("__enter__", "__exit__"):
            out.setdefault(name, node)
    return out


def _params(fn: ast.FunctionDef) -> list[str]:
    return [a.arg for a in fn.args.args if a.arg != "self"]


def _check_signature(where: str, stub: ast.stmt, ours: Any, problems: list[str]) -> None:
    if not isinstance(stub, ast.FunctionDef) or stub.name == "__exit__" or isinstance(ours, property):
        return
    if any(isinstance(d, ast.Name) and d.id == "property" for d in stub.decorator_list):
        return
    try:
        sig = inspect.signature(ours)
    except (TypeError, ValueError):
        return
    want = _params(stub)
    have = [p for p in sig.parameters if p not in ("self", "args", "kwargs")]
    if have[: len(want)] != want:
        problems.append(f"{where}: parameters {have}, CircuitPython has {want}")


def _conformance(module_name: str, module: ModuleType) -> list[str]:
    tree = _stub_tree(module_name)
    problems: list[str] = []
    for name, node in _public_members(tree.body).items():
        if isinstance(node, ast.ClassDef) and name not in STANDS_IN_FOR[module_name]:
            continue
        if not hasattr(module, name):
            problems.append(f"{module_name}.{name} is missing")
            continue
        ours = getattr(module, name)
        if isinstance(node, ast.ClassDef):
            for member, sub in _public_members(node.body).items():
                if not hasattr(ours, member):
                    problems.append(f"{module_name}.{name}.{member} is missing")
                else:
                    _check_signature(f"{module_name}.{name}.{member}", sub, getattr(ours, member), problems)
        else:
            _check_signature(f"{module_name}.{name}", node, ours, problems)
    return problems


@pytest.mark.parametrize("module_name", sorted(STANDS_IN_FOR))
def test_simulated_module_has_the_circuitpython_api(sim: Bench, module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert Path(module.__file__ or "").parent == Path(BOARDMODS)
    assert _conformance(module_name, module) == []


def test_install_puts_the_simulated_modules_first_and_uninstall_removes_them(sim: Bench) -> None:
    import board

    assert sys.path[0] == BOARDMODS
    assert board.board_id == "ether_sim"
    uninstall()
    assert BOARDMODS not in sys.path and "board" not in sys.modules


def test_blinky_and_relay_drive_the_models(sim: Bench) -> None:
    import board
    import digitalio

    led = digitalio.DigitalInOut(board.LED)
    led.direction = digitalio.Direction.OUTPUT
    for _ in range(3):
        led.value = True
        led.value = False
    assert sim.led.changes == 6 and led.value is False

    relay = digitalio.DigitalInOut(board.D5)
    relay.switch_to_output(value=True)
    assert sim.heater.on
    sim.step(60.0)
    assert sim.thermometer.true_celsius() > 28.0


def test_digital_errors_match_circuitpython(sim: Bench) -> None:
    import board
    import digitalio

    pin = digitalio.DigitalInOut(board.D7)
    with pytest.raises(AttributeError, match="direction is input"):
        pin.value = True
    with pytest.raises(ValueError, match="D7 in use"):
        digitalio.DigitalInOut(board.D7)
    pin.switch_to_output()
    with pytest.raises(AttributeError, match="Pull not used"):
        pin.pull = digitalio.Pull.UP
    pin.deinit()
    with pytest.raises(ValueError, match="deinitialized"):
        _ = pin.value
    with digitalio.DigitalInOut(board.D7) as again:  # released by deinit, usable again
        again.switch_to_input(pull=digitalio.Pull.DOWN)
        assert again.value is False


def test_button_reads_through_pull_up(sim: Bench) -> None:
    import board
    import digitalio

    button = digitalio.DigitalInOut(board.BUTTON)
    button.switch_to_input(pull=digitalio.Pull.UP)
    assert button.value is True
    sim.button.press()
    assert button.value is False


def test_analog_in_is_16_bit_of_the_reference(sim: Bench) -> None:
    import analogio
    import board

    sim.adc.noise_v = 0.0
    sim.adc.set_volts(3.3 / 4)
    adc = analogio.AnalogIn(board.A0)
    assert adc.reference_voltage == pytest.approx(3.3)
    assert adc.value == round(65535 / 4)
    sim.adc.set_volts(9.0)
    assert adc.value == 65535
    with pytest.raises(ValueError, match="ADC capabilities"):
        analogio.AnalogIn(board.A3)


def test_pico_names_alias_the_same_pins(sim: Bench) -> None:
    import board

    assert board.GP25 is board.LED and board.GP26 is board.A0 and board.GP5 is board.D5


def test_cpu_temperature_and_uid_come_from_the_bench(sim: Bench) -> None:
    import microcontroller

    assert microcontroller.cpu.uid == bytearray.fromhex("e6614103e7452d2f")
    assert isinstance(microcontroller.cpu.uid, bytearray)
    sim.thermometer.noise_c = 0.0
    assert microcontroller.cpu.temperature == pytest.approx(22.0)
    assert microcontroller.cpus[0] is microcontroller.cpu
    with pytest.raises(SystemExit):
        microcontroller.reset()


def test_uid_is_stable_per_id() -> None:
    assert uid_for("thermo-1") == uid_for("thermo-1") != uid_for("thermo-2")
    assert len(uid_for("thermo-1")) == 8
    assert uid_for("0a0b") == b"\x0a\x0b"


def test_device_core_never_imports_the_simulator() -> None:
    root = Path(__file__).resolve().parent.parent / "ether_lite"
    offenders = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if "sim" not in p.relative_to(root).parts and "ether_lite.sim" in p.read_text()
    ]
    assert offenders == [], f"ether_lite's core imports the simulator: {offenders}"
