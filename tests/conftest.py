"""Shared test helpers and the test tiers.

Tiers (``-m unit``, ``-m integration``, ``-m device``; ``make test-fast`` runs the unit tier):

- **unit**: no process, pty or socket of the system under test; the whole tier takes seconds. Enforced: a
  unit test that starts a process fails, saying to move its module to the integration tier.
- **integration**: real processes, ZeroMQ brokers, ptys, UDP sockets, SQLite files.
- **device**: ether_lite under the real interpreters (MicroPython in node, CircuitPython's unix port), and the
  HIL suite in ``hil/``.

A module is in the unit tier when :data:`UNIT` lists it, in the device tier when :data:`DEVICE` does, else in
the integration tier. Helpers: :func:`wait_until` (poll a condition with a deadline, never a bare sleep) and
:func:`stop_process` (stop one process by its own PID, SIGTERM then SIGKILL).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

UNIT = {
    "test_arrays_codec",
    "test_bridge_units",
    "test_config_reference",
    "test_fabric_decorators",
    "test_fabric_envelope",
    "test_fabric_signature",
    "test_layout",
    "test_observe_mcap",
    "test_observe_units",
    "test_observe_wiring",
    "test_lite_cbor",
    "test_lite_constants",
    "test_lite_framing",
    "test_lite_protocol_vectors",
    "test_lite_stubs",
    "test_public_api",
    "test_recorder_rows",
    "test_settings",
    "test_sim_models",
}
DEVICE = {"test_lite_micropython", "test_lite_circuitpython", "test_lite_qemu"}


def tier_of(path: Path) -> str:
    if path.stem in UNIT:
        return "unit"
    if path.stem in DEVICE:
        return "device"
    return "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        path = Path(str(item.path))
        if path.parent == here:  # hil/ marks its own items (device tier)
            item.add_marker(tier_of(path))


class ProcessInUnitTest(AssertionError):
    pass


@pytest.fixture(autouse=True)
def _unit_tests_start_no_process(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("unit") is None:
        return

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ProcessInUnitTest(
            f"{request.node.nodeid} starts a process: list its module under integration in tests/conftest.py"
        )

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    monkeypatch.setattr(os, "fork", refuse)


def wait_until(
    check: Callable[[], T], timeout_s: float, what: str, interval_s: float = 0.01
) -> T:
    """Poll ``check()`` until it returns something true, and return that; fail naming ``what`` (and the last
    value seen) after ``timeout_s``. The deadline only bounds a hang: pass one far above the usual time."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s (last seen: {value!r})")
        time.sleep(interval_s)


def run_to_end(
    argv: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """Run ``argv`` to its end (stdout and stderr together, ``env`` added to this process's); a process still
    running at ``timeout`` is killed (``TimeoutExpired`` is raised) and waited for."""
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out


def stop_process(proc: subprocess.Popen[Any], timeout_s: float = 5.0, sig: int = signal.SIGTERM) -> int:
    """Stop ``proc`` (by its own PID): ``sig``, then SIGKILL after ``timeout_s``; its exit code. Safe to call
    on a process that has already exited."""
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            return proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
        except ProcessLookupError:
            pass
    return proc.wait()
