"""A board on UDP: the host listens, replies to the last sender, and detects silence past a lease."""

from __future__ import annotations

import logging
import time

import pytest
from test_bridge_support import DeviceProcess, LoopThread, RecordingSink

from ether_medium.bridge.links.udp import UdpLink
from ether_medium.bridge.manager import ATTACHED, LinkManager


def test_udp_attach_silence_and_return(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    sink = RecordingSink()
    link = UdpLink("udp://127.0.0.1:0")
    mgr = LinkManager("wifi1", link, sink, device_id="board-u", ping_interval_s=0.1, lease_s=0.6)
    with LoopThread(mgr) as lt:
        port = lt.call(lambda: link.bound[1])
        assert port > 0
        dev = DeviceProcess(f"udp://127.0.0.1:{port}", device_id="board-u")
        try:
            sink.wait(lambda: len(sink.pubs_of("wifi1")) >= 3, what="readings over UDP")
            assert mgr.state == ATTACHED and mgr.counters.pongs >= 1
            done = []
            lt.call(lambda: mgr.deliver("Thermometer.set_led", {"on": True}, done.append))
            sink.wait(lambda: bool(done), what="ACK over UDP")
            assert done[0].error is None
            dev.unplug()  # the board leaves the network: silence
            t0 = time.monotonic()
            sink.wait(lambda: sink.count("detached") == 1, what="detach after the lease")
            assert time.monotonic() - t0 < 3
            assert "silent for" in sink.events[-1][1][1]
            assert link.is_open  # still listening
            dev.replug()  # back, from a new source port
            sink.wait(lambda: sink.count("attached") == 2, what="re-attach")
            n = len(sink.pubs_of("wifi1"))
            sink.wait(lambda: len(sink.pubs_of("wifi1")) > n + 2, what="readings again")
        finally:
            dev.stop()
    assert "still listening" in caplog.text
