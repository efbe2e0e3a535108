"""Staying attached: unplug and replug on a new pty, device reset, two boards at once, identity by id."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from bridge_support import LoopThread, RecordingSink, device

from ether_medium.bridge.manager import ATTACHED, LinkManager


def test_unplug_replug_on_another_pty(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    sink = RecordingSink()
    with device(tmp_path, "thermo", device_id="board-a") as dev:
        mgr = LinkManager("thermo1", dev.url, sink, device_id="board-a")
        with LoopThread(mgr):
            sink.wait(lambda: len(sink.pubs_of("thermo1")) >= 3, what="readings")
            boot = dev.boot_id
            dev.unplug()
            sink.wait(lambda: sink.count("detached") == 1, what="detach after unplug")
            assert "link lost" in sink.events[-1][1][1]
            n = len(sink.pubs_of("thermo1"))
            dev.replug()
            sink.wait(lambda: sink.count("attached") == 2, what="re-attach after replug")
            sink.wait(lambda: len(sink.pubs_of("thermo1")) >= n + 3, what="readings after replug")
            assert mgr.state == ATTACHED and mgr.info is not None and mgr.info.boot_id == boot
            assert mgr.counters.reconnects >= 1
            assert mgr.counters.resets == 0
            # the same boot: sequence numbers continue, no gap is invented across the unplug
            seqs = [r.device_seq for n_, t, _, r in sink.pubs if t == "Thermometer.read"]
            assert seqs == sorted(seqs)
    assert "link lost on" in caplog.text and "reconnecting" in caplog.text


def test_device_reset_is_detected(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    sink = RecordingSink()
    with device(tmp_path, "thermo", device_id="board-a") as dev:
        mgr = LinkManager("thermo1", dev.url, sink)
        with LoopThread(mgr):
            sink.wait(lambda: len(sink.pubs_of("thermo1")) >= 3, what="readings")
            old = dev.boot_id
            new = dev.reset()
            assert new != old
            sink.wait(lambda: sink.count("attached") == 2, what="re-attach after reset")
            assert mgr.info is not None and mgr.info.boot_id == new
            assert mgr.counters.resets == 1
            sink.wait(lambda: sink.pubs[-1][3].device_seq < 3, what="sequence restarted")
            assert mgr.counters.sequence_gaps == 0
    assert f"reset (boot id {old} -> {new})" in caplog.text


def test_two_devices_told_apart_by_id(tmp_path: Path) -> None:
    """Two boards scanned through one glob (like /dev/serial/by-id/*): each bridge finds its own by id."""
    sink = RecordingSink()
    with (
        device(tmp_path, "tty-1", device_id="board-a") as a,
        device(tmp_path, "tty-2", device_id="board-b") as b,
    ):
        pattern = f"serial://{tmp_path}/tty-*"
        m1 = LinkManager("left", pattern, sink, device_id="board-b")
        m2 = LinkManager("right", pattern, sink, device_id="board-a")
        with LoopThread(m1, m2):
            sink.wait(
                lambda: len(sink.pubs_of("left")) >= 3 and len(sink.pubs_of("right")) >= 3,
                timeout_s=20,
                what="readings from both",
            )
            assert m1.info is not None and m1.info.device_id == "board-b"
            assert m2.info is not None and m2.info.device_id == "board-a"
            assert os.path.realpath(m1.link.where.split(" ")[0]) == b.pty
            assert os.path.realpath(m2.link.where.split(" ")[0]) == a.pty
            # board-b comes back on the other name: still "left"
            b.unplug()
            sink.wait(lambda: sink.count("detached", "left") == 1, what="left detached")
            b.replug(tmp_path / "tty-3")
            sink.wait(lambda: sink.count("attached", "left") == 2, timeout_s=20, what="left re-attached")
            assert m1.info.device_id == "board-b"
            assert "tty-3" in m1.link.where
            assert sink.count("detached", "right") == 0


def test_wrong_device_id_is_refused_and_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    sink = RecordingSink()
    with device(tmp_path, "thermo", device_id="board-a") as dev:
        mgr = LinkManager("thermo1", dev.url, sink, device_id="board-z")
        with LoopThread(mgr):
            sink.wait(lambda: "has device id 'board-a', not 'board-z'" in caplog.text, what="the refusal")
            sink.wait(lambda: caplog.text.count("not 'board-z'") >= 2, what="a retry")
            assert sink.count("attached") == 0 and mgr.state != ATTACHED
            assert dev.proc.poll() is None
    assert "devices.thermo1.device_id" in caplog.text


def test_another_board_on_the_same_port_is_not_taken_for_the_first(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Without a configured device_id the bridge keeps to the board it attached first: a port (or pty
    path) that another board takes over later is refused, with the way to change it."""
    caplog.set_level(logging.INFO)
    sink = RecordingSink()
    with device(tmp_path, "port", device_id="board-a") as a:
        mgr = LinkManager("thermo1", a.url, sink)
        with LoopThread(mgr):
            sink.wait(lambda: sink.count("attached") == 1, what="board-a attached")
            a.unplug()
            sink.wait(lambda: sink.count("detached") == 1, what="board-a gone")
            with device(tmp_path, "port", device_id="board-b"):
                sink.wait(
                    lambda: "has device id 'board-b', not 'board-a'" in caplog.text, what="board-b refused"
                )
                assert sink.count("attached") == 1
    assert "set devices.thermo1.device_id to attach another board" in caplog.text
