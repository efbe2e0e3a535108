"""Attach ether_lite devices (real CPython processes on real ptys) through the link manager."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
from bridge_support import LoopThread, RecordingSink, device

from ether_medium.bridge.manager import ATTACHED, Delivery, LinkManager


def test_attach_publish_and_actuate(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    sink = RecordingSink()
    with device(tmp_path, "thermo-a", device_id="board-a") as dev:
        mgr = LinkManager("thermo1", dev.url, sink, device_id="board-a")
        with LoopThread(mgr) as lt:
            sink.wait(lambda: len(sink.pubs_of("thermo1", "Thermometer.read")) >= 5, what="5 readings")
            assert mgr.state == ATTACHED
            assert (
                mgr.info is not None and mgr.info.device_id == "board-a" and mgr.info.boot_id == dev.boot_id
            )
            readings = [p for p in sink.pubs if p[1] == "Thermometer.read"]
            for _, _, data, _ in readings:
                assert set(data) == {"celsius"} and isinstance(data["celsius"], float)
            seqs = [r.device_seq for *_, r in readings]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
            # time: mapped device time close to the receive time, with a small uncertainty
            synced = [r for *_, r in readings if r.device_time is not None]
            assert synced, "no reading carried a mapped device time"
            for r in synced:
                assert r.uncertainty is not None and 0 < r.uncertainty < 0.05
                assert abs(r.host_time - r.device_time) < 0.1

            done = threading.Event()
            result: list[Delivery] = []

            def finished(d: Delivery) -> None:
                result.append(d)
                done.set()

            lt.call(lambda: mgr.deliver("Thermometer.set_led", {"on": True}, finished))
            assert done.wait(5)
            assert result[0].error is None, result[0].error
            sink.wait(lambda: {"on": True} in sink.pubs_of("thermo1", "Thermometer.led"), what="led state")
            sink.wait(lambda: ("log", ("thermo1", logging.INFO, "led on")) in sink.events, what="device log")

            # a handler that raises: the delivery fails with the device's reason
            done.clear()
            lt.call(lambda: mgr.deliver("Thermometer.fail", {"why": "boom"}, finished))
            assert done.wait(5)
            assert result[1].error is not None and "RuntimeError: boom" in result[1].error
            # data that do not fit the described fields never reach the link
            bad = lt.call(lambda: mgr.deliver("Thermometer.set_led", {"on": "maybe"}))
            assert bad.done and bad.error and "on" in bad.error
            unknown = lt.call(lambda: mgr.deliver("Thermometer.nothing", {}))
            assert unknown.error and "Thermometer.set_led" in unknown.error
    assert "thermo1 attached on" in caplog.text
    assert "thermo1 link counters" in caplog.text
    assert mgr.counters.delivered == 1 and mgr.counters.delivery_failures == 3


def test_a_new_host_session_is_not_taken_for_retransmissions(tmp_path: Path) -> None:
    """The device remembers the msg_ids it acknowledged; a bridge restarted against the same running board
    must not reuse them, or its first deliveries are re-ACKed and never acted on."""
    with device(tmp_path, "thermo-a", device_id="board-a") as dev:
        for session, on in enumerate((True, False, True)):
            sink = RecordingSink()
            mgr = LinkManager(f"session{session}", dev.url, sink)
            with LoopThread(mgr) as lt:
                sink.wait(lambda m=mgr: m.state == ATTACHED, what="attach")
                done: list[Delivery] = []
                lt.call(lambda m=mgr, on=on, d=done: m.deliver("Thermometer.set_led", {"on": on}, d.append))
                sink.wait(lambda d=done: bool(d), what="ACK")
                assert done[0].error is None
                name = f"session{session}"
                sink.wait(
                    lambda s=sink, n=name, on=on: {"on": on} in s.pubs_of(n, "Thermometer.led"),
                    what=f"the device acting on delivery {session}",
                )
