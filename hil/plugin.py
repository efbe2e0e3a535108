"""The pytest plugin of the HIL suite (entry point ``pytest11: ether_hil``).

``--hil-link=LINK`` runs the suite against a real board (``serial:///dev/ttyACM0``); without it the same
tests run against the simulated devices (CPython, MicroPython, CircuitPython, and MicroPython firmware on an
emulated Cortex-M3: ``qemu``). Fixtures start or attach the device
(``hil_target``, once per device per session), a probe (``hil_probe``) or a bridge link manager
(``hil_bridge``), and stop them by PID in ``finally``. At the end a table per device lists each check,
its result and its figure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hil.report import ConformanceReport

if TYPE_CHECKING:  # imported when used: the bridge pulls in pyzmq and pydantic, which other tests skip
    from hil.bridge_harness import HilBridge
    from hil.probe import DeviceProbe
    from hil.targets import Target

SIMULATED = ("cpython", "micropython", "circuitpython", "qemu")
_REPORT = pytest.StashKey[ConformanceReport]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ether-hil", "Ether hardware-in-the-loop")
    group.addoption(
        "--hil-link", default=None, metavar="LINK",
        help="run the HIL suite against a real board on LINK (e.g. serial:///dev/ttyACM0); "
        "default: the simulated CPython, MicroPython and CircuitPython devices and the emulated board (qemu)",
    )
    group.addoption(
        "--hil-id", default=None, metavar="DEVICE_ID",
        help="the real board's device id: needed with a UDP link beyond loopback (udp://0.0.0.0:5005)",
    )
    group.addoption(
        "--hil-device", action="append", choices=SIMULATED, default=None,
        help="only this simulated device (repeatable); default: all",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "hil_check(name, device=None): a row of the HIL conformance table (device: for tests that "
        "do not use hil_target)",
    )
    config.addinivalue_line("markers", "hil_simulated: needs a simulated device (fault injection)")
    config.stash[_REPORT] = ConformanceReport()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The HIL suite is the device tier of the project's tests (tests/conftest.py has the others)."""
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.path)).parent == here:
            item.add_marker("device")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "hil_target" not in metafunc.fixturenames:
        return
    link = metafunc.config.getoption("hil_link")
    names = ["board"] if link else list(metafunc.config.getoption("hil_device") or SIMULATED)
    metafunc.parametrize("hil_target", names, indirect=True, scope="session")


@pytest.fixture(scope="session")
def hil_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    from hil.targets import micropython_missing, start_target

    name = request.param
    if name == "micropython" and (why := micropython_missing()):
        pytest.skip(why)
    if name == "circuitpython":
        from hil import circuitpython

        circuitpython.require()
    if name == "qemu":
        from hil.qemu_firmware import firmware_or_skip

        firmware_or_skip()
    target = start_target(name, device_id=f"hil-{name}", real_link=request.config.getoption("hil_link"),
                          real_id=request.config.getoption("hil_id"))
    try:
        yield target
    finally:
        target.stop()


@pytest.fixture
def hil_simulated(hil_target: Target) -> Target:
    """The target, which must be simulated (fault injection needs the injector in the link)."""
    if not hil_target.simulated:
        pytest.skip("fault injection runs against the simulated devices (run without --hil-link)")
    return hil_target


@pytest.fixture
def hil_bridge(hil_target: Target) -> Iterator[HilBridge]:
    from hil.bridge_harness import HilBridge

    bridge = HilBridge(hil_target.link, device_id=hil_target.device_id)
    try:
        bridge.wait_attached(15.0)
        yield bridge
    finally:
        bridge.close()


@pytest.fixture
def hil_probe(hil_target: Target) -> Iterator[DeviceProbe]:
    from hil.probe import DeviceProbe
    from hil.targets import open_tty

    path = hil_target.tty_path
    if path is None:
        pytest.skip(f"protocol-level checks need a serial link, not {hil_target.link}")
    fd = open_tty(path)
    probe = DeviceProbe(fd, fd)
    try:
        yield probe
    finally:
        probe.close()
        os.close(fd)


@pytest.fixture
def hil_figure(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Call with the figure this check measured; it goes into the conformance table."""
    figures: list[str] = []
    request.node.stash[_FIGURES] = figures
    return figures.append


_FIGURES = pytest.StashKey[list[str]]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()  # type: ignore[attr-defined]
    marker = item.get_closest_marker("hil_check")
    if marker is None:
        return
    if rep.when == "call" or (rep.when == "setup" and not rep.passed):
        result = "PASS" if rep.passed else ("SKIP" if rep.skipped else "FAIL")
        if hasattr(rep, "wasxfail"):  # a known defect, named in the reason
            result = "XFAIL" if rep.skipped else "XPASS"
        figures: list[str] = item.stash.get(_FIGURES, [])
        figure = "; ".join(figures)
        if not rep.passed:
            reason = rep.longrepr[2] if rep.skipped and isinstance(rep.longrepr, tuple) else ""
            if hasattr(rep, "wasxfail"):
                reason = f"known defect: {rep.wasxfail}"
            if rep.failed and call.excinfo is not None:
                text = str(call.excinfo.value)
                reason = text.splitlines()[0] if text else call.excinfo.typename
            figure = "; ".join(x for x in (figure, reason[:120]) if x)
        callspec = getattr(item, "callspec", None)
        device = str(marker.kwargs.get("device") or (callspec.params.get("hil_target") if callspec else "?"))
        item.config.stash[_REPORT].add(device, marker.args[0], result, figure)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    report = config.stash.get(_REPORT, None)
    if report is None or not report.rows:
        return
    for device in report.devices():
        terminalreporter.section(f"Ether HIL conformance: {device}", sep="=")
        for line in report.table(device):
            terminalreporter.write_line(line)
