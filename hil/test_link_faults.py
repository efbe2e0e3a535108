"""The link under faults: the injector sits between the bridge and each simulated device.

What "match" means (checked below, device -> bridge direction, over the faulty period plus a clean tail):

- every frame the injector damaged (a non-empty output frame identical to no input frame) is rejected by
  the bridge: ``crc_errors + cobs_errors + oversize + decode_errors`` grew by exactly the injector's
  ``frames_damaged``;
- every frame it did not damage arrives: the bridge's ``frames_in`` grew by the injector's
  ``frames_intact``;
- every PUB the injector lost is counted as a sequence gap: ``sequence_gaps`` grew by exactly the number
  of PUB frames among the injector's lost frames (each topic publishes once more, cleanly, at the end, so
  every loss is followed by a frame that reveals it).

And host -> device: every delivery the bridge reports as acknowledged was acted on, exactly once.
"""

from __future__ import annotations

import io

import cbor2
import pytest

from ether_lite import framing, protocol
from hil.bridge_harness import HilBridge
from hil.faults import NO_FAULTS, DirectionStats, FaultRates, StreamFaultProxy
from hil.targets import Target

T = "Thermometer"
MARKS = 60  # deliveries under faults (bits 1..60 of the device's 63-bit mark set)
BAD_LINK = FaultRates(corrupt=0.01, drop=0.01)


def lost_pubs(lost: list[bytes]) -> int:
    """How many of the injector's lost frames were PUBs (decoded from what the device sent)."""
    n = 0
    for frame in lost:
        try:
            body = framing.decode_frame(frame)
            msg = cbor2.CBORDecoder(io.BytesIO(body)).decode()
        except (ValueError, cbor2.CBORDecodeError):
            continue
        if isinstance(msg, list) and msg and msg[0] == protocol.PUB:
            n += 1
    return n


def settled(proxy: StreamFaultProxy, bridge: HilBridge) -> tuple[DirectionStats, dict[str, int]]:
    """Injector and bridge counters at one point: the device's bytes are held back while the bridge
    reads and handles everything the injector already passed on; then traffic resumes."""
    proxy.hold()
    try:
        stats = proxy.quiesce()["to_bridge"]
        bridge.run_until(lambda: proxy.bridge_unread() == 0, 5.0, "the bridge reads what the injector sent")
        bridge.loop.step(0.0)
        return stats, bridge.mgr.counters.as_dict()
    finally:
        proxy.hold(False)


@pytest.mark.hil_check("1 % corrupt + 1 % loss: no acked delivery lost")
def test_no_acknowledged_delivery_is_lost_and_counters_match(
    hil_simulated: Target, hil_bridge: HilBridge, hil_figure
) -> None:
    proxy = hil_simulated.proxy
    assert proxy is not None
    b = hil_bridge
    # every topic publishes once cleanly first, so that the bridge knows each topic's sequence
    for topic, data in ((f"{T}.set_led", {"on": False}), (f"{T}.mark", {"i": 0}), (f"{T}.burst", {"n": 1})):
        assert b.deliver(topic, data).error is None
    before_inj, before = settled(proxy, b)
    acked, failed = [], []
    proxy.set_rates(BAD_LINK)
    try:
        for i in range(1, MARKS + 1):
            d = b.deliver(f"{T}.mark", {"i": i}, timeout_s=10.0)
            (acked if d.error is None else failed).append(i)
        b.run_for(0.5)  # readings keep flowing through the bad link
    finally:
        proxy.set_rates(NO_FAULTS)
    # a clean tail: every topic publishes again, revealing any loss at the end of the faulty period
    since = len(b.sink.received)
    for topic, data in ((f"{T}.set_led", {"on": True}), (f"{T}.mark", {"i": 0}), (f"{T}.burst", {"n": 1})):
        assert b.deliver(topic, data).error is None, topic
    b.run_until(lambda: len(b.sink.on(f"{T}.marks", since)) >= 1, 3.0, "the final mark set")
    b.run_for(0.3)
    after_inj, after = settled(proxy, b)

    bits = b.sink.on(f"{T}.marks", since)[-1].data
    acted = {i for i in range(1, MARKS + 1) if bits["bits"] >> i & 1}
    assert set(acked) <= acted, f"acknowledged but never acted on: {sorted(set(acked) - acted)}"
    assert bits["calls"] == len(acted) + 2, "a handler ran twice for one delivery"  # + mark(0) twice

    damaged = after_inj.frames_damaged - before_inj.frames_damaged
    intact = after_inj.frames_intact - before_inj.frames_intact
    lost = after_inj.lost[len(before_inj.lost):]
    rejected = sum(after[k] - before[k] for k in ("crc_errors", "cobs_errors", "oversize", "decode_errors"))
    gaps = after["sequence_gaps"] - before["sequence_gaps"]
    assert damaged > 0 and lost, "the faults did not hit anything: the test proves nothing"
    assert rejected == damaged, f"bridge rejected {rejected} frames, injector damaged {damaged}"
    assert after["frames_in"] - before["frames_in"] == intact
    pubs_lost = lost_pubs(lost)
    assert gaps == pubs_lost, f"bridge counted {gaps} missing PUBs, injector lost {pubs_lost}"
    hil_figure(f"{len(acked)}/{MARKS} acked, all acted on once, {len(failed)} reported failed; "
               f"frames damaged {damaged} = rejected {rejected}; PUBs lost {pubs_lost} = gaps {gaps}; "
               f"retransmissions {after['retransmissions'] - before['retransmissions']}")


@pytest.mark.hil_check("cut link re-attached")
@pytest.mark.parametrize("mode", ["close", "silence"])
def test_a_cut_link_is_re_attached(
    hil_simulated: Target, hil_bridge: HilBridge, hil_figure, mode: str
) -> None:
    proxy = hil_simulated.proxy
    assert proxy is not None
    b = hil_bridge
    detaches = len(b.sink.detaches)
    proxy.cut(0.5 if mode == "close" else 2.5, mode=mode)
    b.run_until(lambda: len(b.sink.detaches) > detaches, 10.0, f"the bridge notices the cut ({mode})")
    took = b.run_until(lambda: b.attached, 15.0, "re-attach after the cut")
    since = len(b.sink.received)
    b.run_until(lambda: bool(b.sink.on(f"{T}.read", since)), 3.0, "readings after re-attach")
    assert b.deliver(f"{T}.set_led", {"on": True}).error is None
    hil_figure(f"{mode}: detached ({b.sink.detaches[-1][1]}), re-attached {1000 * took:.0f} ms later")
