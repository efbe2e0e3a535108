"""The link manager's state machine against a real ether_lite Node over an in-memory link, on a fake clock
(tests/bridge_memory.py): attaching, through a noisy line, resets, silence. No processes; a few seconds."""

from __future__ import annotations

import pytest
from bridge_memory import Bench

from ether_lite import protocol
from ether_medium.bridge.manager import ATTACHED, CONNECTED
from hil.faults.plan import FaultRates

BAD_LINE = FaultRates(corrupt=0.01, drop=0.01)  # per byte, both ways: the HIL fault tests' line
N = 8


def all_described(b: Bench) -> bool:
    return b.mgr.state == ATTACHED and sorted(b.mgr.endpoints) == list(range(N))


def test_attaches_over_a_clean_link_at_once() -> None:
    b = Bench()
    try:
        took = b.run_until(lambda: all_described(b), 0.1)
        assert took < 0.01 and b.sink.attaches == 1
        assert b.queries() == [protocol.query()]  # the one sent when the link opened
        assert b.mgr.deliver("Rig.set_led", {"on": True}).error is None  # (done: the ACK comes later)
        b.run_until(lambda: ("Rig.led", {"on": True, "count": 1}) in b.sink.readings, 0.1)
    finally:
        b.close()


@pytest.mark.parametrize("seed", range(40))
def test_every_endpoint_through_a_bad_line_within_two_seconds(seed: int) -> None:
    """1 % of bytes corrupted and 1 % lost, both ways: every endpoint is known within 2 s of the host's
    time (over 300 seeds: median 0.1 s, 99th percentile 0.9 s, worst 1.2 s), and the bridge never asks for
    more than it lacks."""
    b = Bench(BAD_LINE, seed)
    try:
        b.run_until(lambda: all_described(b), 2.0)
        for q in b.queries():
            assert len(q) <= 1 + 2 * N, q  # a bare QUERY, or missing topic ids (each twice)
    finally:
        b.close()


def test_a_silent_device_is_not_flooded_with_queries() -> None:
    b = Bench()
    b.node.close()  # type: ignore[union-attr]
    b.node = None  # a link with nothing on the other end
    try:
        b.run_for(10.0, dt=0.01)
        assert b.mgr.state == CONNECTED
        assert 10 <= len(b.queries()) <= 16, len(b.queries())  # 0.1 s doubling to 1 s: about one a second
    finally:
        b.close()


def test_a_reset_is_seen_and_the_device_described_again() -> None:
    b = Bench()
    try:
        b.run_until(lambda: all_described(b), 0.1)
        b.reboot(boot_id=8)
        b.run_until(lambda: b.mgr.counters.resets == 1 and all_described(b), 0.5)
        assert b.mgr.info is not None and b.mgr.info.boot_id == 8
        assert b.sink.detaches == ["device reset"] and b.sink.attaches == 2
    finally:
        b.close()


def test_a_pub_on_a_topic_beyond_the_hello_asks_for_everything_once() -> None:
    b = Bench()
    try:
        b.run_until(lambda: all_described(b), 0.1)
        n0 = len(b.queries())
        b.dev_end.write(bytes(_frame(protocol.pub(20, 0, 0, [1.0]))))
        b.dev_end.write(bytes(_frame(protocol.pub(20, 1, 0, [1.0]))))  # (a second within the second: no more)
        b.run_until(lambda: len(b.queries()) > n0, 0.1)
        b.run_for(0.3)
        assert b.queries()[n0:] == [protocol.query()]
        assert b.mgr.counters.rejected == 2 and b.mgr.state == ATTACHED
    finally:
        b.close()


def _frame(msg: list[object]) -> bytes:
    import cbor2

    from ether_lite import framing

    return framing.encode_frame(cbor2.dumps(msg, canonical=True))
