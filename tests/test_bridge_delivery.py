"""DELIVER until ACK: retransmission with the same msg_id, and a clear failure when no ACK ever comes."""

from __future__ import annotations

import logging
import time

import pytest
from bridge_support import LoopThread, RecordingSink, scripted_device
from conftest import wait_until

from ether_lite import protocol
from ether_medium.bridge.delivery import GIVE_UP_S
from ether_medium.bridge.manager import ATTACHED, Delivery, LinkManager

HELLO = protocol.hello("relay-1", 5, "test", 3, 1 << 30)
SET = protocol.describe(0, "Relay.set", protocol.DEVICE_SUBSCRIBES, [["on", "b"]], None)
LABEL = protocol.describe(1, "Relay.label", protocol.DEVICE_SUBSCRIBES, [["text", "s"]], None)
# MicroPython cannot list a function's parameters: fields null, DELIVER carries one map of keyword arguments
ANY = protocol.describe(2, "Relay.configure", protocol.DEVICE_SUBSCRIBES, None, None)


def _deliver(lt: LoopThread, mgr: LinkManager, data: dict[str, object]) -> Delivery:
    done: list[Delivery] = []
    lt.call(lambda: mgr.deliver("Relay.set", data, done.append, origin="controller"))
    wait_until(lambda: done, 5.0, "the delivery's outcome", interval_s=0.005)
    return done[0]


def test_lost_delivers_are_retransmitted_then_reported(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    sink = RecordingSink()
    with scripted_device() as dev:
        dev.on_query(HELLO, SET, LABEL, ANY)
        mgr = LinkManager("relay1", dev.url, sink)
        with LoopThread(mgr) as lt:
            sink.wait(lambda: mgr.state == ATTACHED, what="attach")
            dev.ack_deliveries(drop_first=2)  # the first two copies are "lost on the wire"
            d = _deliver(lt, mgr, {"on": True})
            assert d.error is None and d.tries == 3
            assert mgr.counters.retransmissions == 2 and mgr.counters.delivered == 1
            assert 0.09 <= (d.rtt or 0) < 0.5  # 30 ms, then 60 ms, then the ACK
            sent = [m for m in dev.received if m[0] == protocol.DELIVER] or [
                dev.wait_received(protocol.DELIVER)
            ]
            assert all(m[2] == d.msg_id for m in sent)  # the same msg_id every time

            dev.ack_deliveries(drop_first=10)  # never acknowledged
            t0 = time.monotonic()
            d = _deliver(lt, mgr, {"on": False})
            took = time.monotonic() - t0
            assert d.error is not None and "no ACK after 4 tries" in d.error
            assert GIVE_UP_S <= took < GIVE_UP_S + 3.0  # sends at 0, 30, 90, 210 ms; then waits for the ACK
            assert mgr.counters.retransmissions == 5 and mgr.counters.delivery_failures == 1
            assert mgr.state == ATTACHED

            big: list[Delivery] = []
            lt.call(lambda: mgr.deliver("Relay.label", {"text": "x" * 300}, big.append))
            assert big and big[0].error is not None and "256" in big[0].error  # never reaches the wire

            dev.ack_deliveries()
            dev.received.clear()
            done: list[Delivery] = []
            lt.call(lambda: mgr.deliver("Relay.configure", {"gain": 2, "mode": "fast"}, done.append))
            frame = dev.wait_received(protocol.DELIVER)
            assert frame[3:] == [{"gain": 2, "mode": "fast"}]
            sink.wait(lambda: bool(done), what="ACK of the keyword map")
            assert done[0].error is None
    assert "delivery to Relay.set from controller failed: no ACK after 4 tries" in caplog.text
