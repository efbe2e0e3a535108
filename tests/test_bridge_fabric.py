"""Devices in the fabric: a host subscriber class receives a board's readings through ``ether.tap`` with a
``devices:`` config, and host code drives the board's actuator through its proxy."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from bridge_support import device
from conftest import wait_until

from ether_medium import ether, ether_sub
from ether_medium.errors import DeliveryError, EtherError


class ReadingLogger:
    """A host instance: writes each reading it receives (and the envelope's device time) to a file."""

    def __init__(self, path: str) -> None:
        self.path = path

    @ether_sub(topic="Thermometer.read")
    def on_reading(self, celsius: float) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps({"celsius": celsius}) + "\n")

    @ether_sub(topic="lab.outside")
    def on_outside(self, celsius: float) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps({"outside": celsius}) + "\n")


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _wait(pred: Any, timeout_s: float, what: str) -> None:
    wait_until(pred, timeout_s, what, interval_s=0.02)


def test_host_subscriber_and_actuator_through_the_fabric(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "readings.jsonl"
    with (
        device(tmp_path, "thermo-link", device_id="board-a", every_s=0.05) as dev,
        device(tmp_path, "outside-link", device_id="board-b", every_s=0.05),
    ):
        config = {
            "instances": {
                "logger": {"class_path": f"{__name__}.ReadingLogger", "kwargs": {"path": str(out)}},
            },
            "devices": {
                "thermo1": {"link": dev.url, "device_id": "board-a"},
                # a second board of the same class, its topic renamed so the two are told apart
                "outside": {
                    "link": f"serial://{tmp_path}/*-link",
                    "device_id": "board-b",
                    "topics": {"Thermometer.read": "lab.outside", "Thermometer.set_led": "outside.led"},
                },
            },
        }
        with pytest.raises(EtherError, match=r"ether.device\('thermo1'\) needs a running fabric.*tap"):
            ether.device("thermo1")
        ether.tap(config=config)
        try:
            ether.start()
            wanted = r"no device 'thermo' .*configured devices: outside, thermo1"
            with pytest.raises(EtherError, match=wanted):
                ether.device("thermo")

            def both() -> bool:
                lines = _lines(out)
                return sum("celsius" in r for r in lines) >= 3 and sum("outside" in r for r in lines) >= 3

            _wait(both, 15, "readings of both boards at the host subscriber")
            assert all(isinstance(v, float) for r in _lines(out) for v in r.values())
            outside = ether.device("outside")
            assert outside.info["device_id"] == "board-b"
            assert {e["topic"] for e in outside.info["endpoints"]} >= {"lab.outside", "outside.led"}

            thermo = ether.device("thermo1")
            assert ether.device("thermo1") is thermo  # one proxy per device and process
            assert thermo.attached and thermo.info["device_id"] == "board-a"
            assert thermo.info["boot_id"] == dev.boot_id
            rtt = thermo.set_led(on=True)
            assert 0 < rtt < 1.0
            state = thermo.wait("led", timeout=5, where=lambda v: v["on"] is True)
            assert state == {"on": True}
            assert thermo.last["Thermometer.led"] == {"on": True}
            thermo.wait("read", timeout=5)
            assert isinstance(thermo.read["celsius"], float)
            with pytest.raises(DeliveryError, match="RuntimeError: broken"):
                thermo.fail(why="broken")
            with pytest.raises(DeliveryError, match="on"):
                thermo.set_led(on="sideways")
            counters = thermo.counters()
            assert counters["delivered"] == 1 and counters["published"] >= 3
        finally:
            ether.shutdown()  # closes the proxies too
        with pytest.raises(RuntimeError, match="proxy was closed"):
            thermo.set_led(on=False)
        with pytest.raises(EtherError, match="needs a running fabric"):
            ether.device("thermo1")
    err = capfd.readouterr().err
    assert "thermo1 attached on" in err
    assert "[thermo1] led on" in err  # the device's LOG line, under its name
    assert "thermo1 link counters" in err


def test_a_proxy_waits_for_its_board_to_attach(tmp_path: Path) -> None:
    """``ether.device()`` of a board not attached yet returns when the bridge announces it (Ether.device)."""
    with device(tmp_path, "late-link", device_id="board-l", every_s=0.05) as dev:
        dev.unplug()  # not there when the bridge starts
        ether.tap(config={"devices": {"late": {"link": dev.url, "device_id": "board-l"}}})
        try:
            ether.start()
            plug = threading.Timer(0.5, dev.replug)  # plugged in while ether.device() waits
            plug.start()
            try:
                late = ether.device("late", timeout=15)
            finally:
                plug.join()
            assert late.attached and late.info["device_id"] == "board-l"
            assert late.wait("read", timeout=5)["celsius"] > 0
        finally:
            ether.shutdown()
