"""Request/reply: ``ether.get`` with several requests in flight, errors and timeouts that name the service."""

from __future__ import annotations

import threading
import time

import pytest
from fabric_harness import tapped

from ether_medium import ether
from ether_medium.errors import RemoteError

CONFIG = {
    "instances": {
        "calc1": {"class_path": "fabric_apps.Calculator"},
        "adder": {"class_path": "fabric_apps.Adder"},
        "asker": {"class_path": "fabric_apps.Asker"},
    }
}


def test_get_returns_the_answer() -> None:
    with tapped(CONFIG):
        assert ether.get("Calculator.square", timeout=5.0, x=3) == 9


def test_several_requests_in_flight_at_once() -> None:
    with tapped(CONFIG):
        results: dict[int, object] = {}
        errors: list[BaseException] = []

        def ask(i: int) -> None:
            try:
                results[i] = ether.get("Calculator.square", timeout=10.0, x=i, delay_s=0.05)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20.0)
        assert not errors
        assert results == {i: i * i for i in range(6)}


def test_timeout_names_the_service() -> None:
    with tapped(CONFIG):
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=r"Nobody\.home"):
            ether.get("Nobody.home", timeout=0.3)
        assert time.monotonic() - started < 3.0
        assert ether.get("Calculator.square", x=2) == 4  # still fine afterwards


def test_bad_parameters_and_failing_service_raise_remote_error() -> None:
    with tapped(CONFIG) as logs:
        with pytest.raises(RemoteError, match=r"field 'x'"):
            ether.get("Calculator.square", x="many")
        logs.wait_for("rejected request", "Calculator.square")
        with pytest.raises(RemoteError, match=r"ValueError: cannot do that"):
            ether.get("Calculator.fail")
        assert ether.get("Calculator.square", x=5) == 25


def test_get_without_a_fabric_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match=r"call ether.tap"):
        ether.get("Calculator.square", x=1)


def test_an_instance_can_ask_another_instance() -> None:
    with tapped(CONFIG):
        assert ether.get("Asker.ask", timeout=10.0, x=3) == 10
