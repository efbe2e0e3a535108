"""The link under faults: the injector sits between the bridge and each simulated device.

What "match" means (checked below, device -> bridge direction, over the faulty period plus a clean tail):

- every frame the injector damaged (a non-empty output frame identical to no input frame) is rejected by
  the bridge: ``crc_errors + cobs_errors + oversize + decode_errors`` grew by exactly the injector's
  ``frames_damaged``;
- every frame it did not damage arrives: the bridge's ``frames_in`` grew by the injector's
  ``frames_intact`` (plus its ``frames_damaged_crc_ok``: damaged frames whose CRC checks all the same, a
  dropped last COBS code of a frame whose CRC ends in 0x00; the bridge rejects their bodies, which are
  never one whole CBOR item, as ``decode_errors``);
- every PUB the injector lost is counted as a sequence gap: ``sequence_gaps`` grew by exactly the number
  of PUB frames among the injector's lost frames (each topic publishes once more, cleanly, at the end, so
  every loss is followed by a frame that reveals it).

And host -> device: every delivery the bridge reports as acknowledged was acted on, exactly once.
"""

from __future__ import annotations

import io
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator

import cbor2
import pytest

from ether_lite import framing, protocol
from ether_medium.bridge.manager import ATTACHED
from ether_medium.fabric.process import stop_process
from hil.bridge_harness import HilBridge
from hil.faults import NO_FAULTS, DatagramFaultProxy, DirectionStats, FaultRates, StreamFaultProxy
from hil.targets import ROOT, Target

Figure = Callable[[str], None]  # the hil_figure fixture: a row's figure in the table

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
        # the bridge keeps reading while the injector passes on what it holds: on a loaded machine that can
        # be more than the pty takes, and a bridge that stopped reading would never let it drain
        bridge.run_until(proxy.passed_on, 30.0, "the injector passes on what it holds")
        stats = proxy.quiesce()["to_bridge"]
        bridge.run_until(lambda: proxy.bridge_unread() == 0, 30.0, "the bridge reads what the injector sent")
        bridge.loop.step(0.0)
        return stats, bridge.mgr.counters.as_dict()
    finally:
        proxy.hold(False)


@pytest.mark.hil_check("1 % corrupt + 1 % loss: no acked delivery lost")
def test_no_acknowledged_delivery_is_lost_and_counters_match(
    hil_simulated: Target, hil_bridge: HilBridge, hil_figure: Figure
) -> None:
    proxy = hil_simulated.proxy
    assert proxy is not None
    b = hil_bridge
    # every topic publishes once cleanly first, so that the bridge knows each topic's sequence: a PUB lost
    # before the first one this bridge receives of its topic cannot be told from one sent before it was
    # there (PROTOCOL.md, "Sequence numbers"), so the timed Thermometer.read must have come through too
    since = len(b.sink.received)
    for topic, data in ((f"{T}.set_led", {"on": False}), (f"{T}.clear_marks", {}), (f"{T}.burst", {"n": 1})):
        assert b.deliver(topic, data).error is None
    b.run_until(lambda: bool(b.sink.on(f"{T}.read", since)), 3.0, "a reading before the faults")
    before_inj, before = settled(proxy, b)
    acked: list[int] = []
    failed: list[int] = []
    proxy.set_rates(BAD_LINK)
    try:
        for i in range(1, MARKS + 1):
            d = b.deliver(f"{T}.mark", {"i": i}, timeout_s=10.0)
            (acked if d.error is None else failed).append(i)
        b.run_for(0.5)  # readings keep flowing through the bad link
    finally:
        proxy.set_rates(NO_FAULTS)
    # The last fault may have cut or dropped the 0x00 after a frame, which then swallows the next frame the
    # device sends, faults off or not: let that be the ACK of a delivery that publishes nothing (when it is
    # swallowed, the retransmission's ACK comes). The tail below is then clean: every topic publishes again,
    # revealing any loss at the end of the faulty period.
    assert b.deliver(f"{T}.burst", {"n": 0}).error is None
    since = len(b.sink.received)
    for topic, data in ((f"{T}.set_led", {"on": True}), (f"{T}.mark", {"i": 0}), (f"{T}.burst", {"n": 1})):
        assert b.deliver(topic, data).error is None, topic
    b.run_until(lambda: len(b.sink.on(f"{T}.marks", since)) >= 1, 3.0, "the final mark set")
    b.run_for(0.3)
    after_inj, after = settled(proxy, b)
    bits = b.sink.on(f"{T}.marks", since)[-1].data
    acted = {i for i in range(1, MARKS + 1) if bits["bits"] >> i & 1}
    assert set(acked) <= acted, f"acknowledged but never acted on: {sorted(set(acked) - acted)}"
    assert bits["calls"] == len(acted) + 1, "a handler ran twice for one delivery"  # + the final mark(0)

    damaged = after_inj.frames_damaged - before_inj.frames_damaged
    crc_ok = after_inj.frames_damaged_crc_ok - before_inj.frames_damaged_crc_ok
    intact = after_inj.frames_intact - before_inj.frames_intact
    lost = after_inj.lost[len(before_inj.lost):]
    rejected = sum(after[k] - before[k] for k in ("crc_errors", "cobs_errors", "oversize", "decode_errors"))
    gaps = after["sequence_gaps"] - before["sequence_gaps"]
    assert damaged > 0 and lost, "the faults did not hit anything: the test proves nothing"
    assert rejected == damaged, f"bridge rejected {rejected} frames, injector damaged {damaged}"
    assert after["frames_in"] - before["frames_in"] == intact + crc_ok, f"{crc_ok} damaged passed the CRC"
    pubs_lost = lost_pubs(lost)
    assert gaps == pubs_lost, f"bridge counted {gaps} missing PUBs, injector lost {pubs_lost}"
    hil_figure(f"{len(acked)}/{MARKS} acked, all acted on once, {len(failed)} reported failed; "
               f"frames damaged {damaged} = rejected {rejected} ({crc_ok} with a valid CRC); "
               f"PUBs lost {pubs_lost} = gaps {gaps}; "
               f"retransmissions {after['retransmissions'] - before['retransmissions']}")


@pytest.mark.hil_check("cut link re-attached")
@pytest.mark.parametrize("mode", ["close", "silence"])
def test_a_cut_link_is_re_attached(
    hil_simulated: Target, hil_bridge: HilBridge, hil_figure: Figure, mode: str
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


def _udp_bound(bridge: HilBridge) -> tuple[str, int]:
    from ether_medium.bridge.links.udp import UdpLink

    link = bridge.mgr.link
    assert isinstance(link, UdpLink)
    return link.bound


@pytest.fixture
def udp_device() -> Iterator[tuple[HilBridge, DatagramFaultProxy]]:
    """The bridge listening on UDP, the injector in front of it, a CPython device sending to the injector."""
    bridge = HilBridge("udp://127.0.0.1:0", name="udp")
    proxy = DatagramFaultProxy(_udp_bound(bridge), target_role="bridge", seed="udp")
    proc = None
    try:
        host, port = proxy.address
        proc = subprocess.Popen([sys.executable, "-m", "hil.devices.serve", "--id", "hil-udp", "--link",
                                 f"udp://{host}:{port}"], cwd=ROOT, stdin=subprocess.DEVNULL)
        bridge.wait_attached(15.0)
        yield bridge, proxy
    finally:
        if proc is not None:
            stop_process(proc)
        proxy.close()
        bridge.close()


def run_marks(b: HilBridge, proxy: DatagramFaultProxy, rates: FaultRates) -> dict[str, object]:
    """60 deliveries through a faulty UDP link, then a clean tail; what both sides counted."""
    for topic, data in ((f"{T}.set_led", {"on": False}), (f"{T}.clear_marks", {}), (f"{T}.burst", {"n": 1})):
        assert b.deliver(topic, data).error is None
    b.run_for(0.3)
    before, inj0 = b.mgr.counters.as_dict(), proxy.stats()["to_bridge"]
    proxy.set_rates(rates)
    acked = []
    try:
        for i in range(1, MARKS + 1):
            if b.deliver(f"{T}.mark", {"i": i}, timeout_s=10.0).error is None:
                acked.append(i)
        b.run_for(0.5)
    finally:
        proxy.set_rates(NO_FAULTS)
    b.run_for(max(rates.delay_s, 0.1) + 0.1)  # delayed datagrams land
    since = len(b.sink.received)
    for topic, data in ((f"{T}.set_led", {"on": True}), (f"{T}.mark", {"i": 0}), (f"{T}.burst", {"n": 1})):
        assert b.deliver(topic, data).error is None, topic
    b.run_until(lambda: len(b.sink.on(f"{T}.marks", since)) >= 1, 3.0, "the final mark set")
    b.run_for(0.3)
    after, inj = b.mgr.counters.as_dict(), proxy.stats()["to_bridge"]
    delta = {k: after[k] - before[k] for k in after}
    return {"acked": acked, "marks": b.sink.on(f"{T}.marks", since)[-1].data, "bridge": delta,
            "corrupted": inj.corrupted - inj0.corrupted, "damaged": inj.frames_damaged - inj0.frames_damaged,
            "dropped": inj.dropped - inj0.dropped,
            "duplicated": inj.duplicated - inj0.duplicated, "delayed": inj.delayed - inj0.delayed}


def rejected(bridge_delta: dict[str, int]) -> int:
    return sum(bridge_delta[k] for k in ("crc_errors", "cobs_errors", "oversize", "decode_errors"))


@pytest.mark.hil_check("UDP, datagram faults: no acked delivery lost", device="cpython-udp")
def test_udp_acknowledged_deliveries_survive_datagram_faults(
    udp_device: tuple[HilBridge, DatagramFaultProxy], hil_figure: Figure
) -> None:
    """Datagrams corrupted (10 %), dropped, duplicated and delayed (so reordered; 5 % each): every
    acknowledged delivery was acted on, and exactly once (a duplicated DELIVER is re-ACKed, not run again);
    every frame the injector damaged was rejected by the bridge (a datagram decodes like a stream, so a byte
    corrupted into 0x00 makes two bad frames of one datagram: the injector counts them so)."""
    b, proxy = udp_device
    r = run_marks(b, proxy, FaultRates(corrupt=0.1, drop=0.05, duplicate=0.05, delay=0.05, delay_s=0.02))
    acked, marks = r["acked"], r["marks"]
    assert isinstance(acked, list) and isinstance(marks, dict)
    acted = {i for i in range(1, MARKS + 1) if marks["bits"] >> i & 1}
    assert set(acked) <= acted, f"acknowledged but never acted on: {sorted(set(acked) - acted)}"
    assert marks["calls"] == len(acted) + 1, "a handler ran twice for one delivery"  # + the final mark(0)
    bridge = r["bridge"]
    assert isinstance(bridge, dict)
    assert rejected(bridge) == r["damaged"], f"bridge rejected {rejected(bridge)} frames; injector: {r}"
    hil_figure(f"{len(acked)}/{MARKS} acked, all acted on once; datagrams corrupted {r['corrupted']} "
               f"(frames damaged {r['damaged']} = rejected {rejected(bridge)}), dropped {r['dropped']}, "
               f"duplicated {r['duplicated']}, delayed {r['delayed']}")


@pytest.mark.hil_check("UDP: largest DELIVER acted on", device="cpython-udp")
def test_udp_a_long_delivery_reaches_the_device(
    udp_device: tuple[HilBridge, DatagramFaultProxy], hil_figure: Figure
) -> None:
    from hil.test_conformance import LONG_TEXT

    b, _ = udp_device
    since = len(b.sink.received)
    d = b.deliver(f"{T}.echo", {"text": LONG_TEXT})
    assert d.error is None, d.error
    b.run_until(lambda: bool(b.sink.on(f"{T}.echoed", since)), 3.0, "the echo of a long text")
    hil_figure(f"{len(LONG_TEXT)} characters there and back")


@pytest.mark.hil_check("UDP: a datagram without its 0x00 is counted", device="cpython-udp")
def test_udp_a_datagram_without_delimiter_is_counted(
    udp_device: tuple[HilBridge, DatagramFaultProxy], hil_figure: Figure
) -> None:
    b, proxy = udp_device
    frame = framing.encode_frame(cbor2.dumps(protocol.pong(1, 2), canonical=True))
    before = rejected(b.mgr.counters.as_dict())
    proxy.inject(frame[:-1])  # the frame, its delimiter missing, from the board's address
    b.run_until(lambda: rejected(b.mgr.counters.as_dict()) == before + 1, 2.0, "the bridge counts it")
    b.run_for(0.2)
    assert rejected(b.mgr.counters.as_dict()) == before + 1
    strangers = b.mgr.counters.strangers
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(frame, _udp_bound(b))  # another address: the board said HELLO from the proxy's
    b.run_until(lambda: b.mgr.counters.strangers == strangers + 1, 2.0, "the bridge drops a stranger")
    hil_figure("1 unterminated datagram, 1 frame counted as rejected; 1 from another address dropped")


@pytest.mark.hil_check("UDP: reordered PUBs are not gaps", device="cpython-udp")
def test_udp_reordered_pubs_are_not_counted_as_lost(
    udp_device: tuple[HilBridge, DatagramFaultProxy], hil_figure: Figure
) -> None:
    b, proxy = udp_device
    r = run_marks(b, proxy, FaultRates(delay=0.1, delay_s=0.3))  # nothing lost, only late
    bridge = r["bridge"]
    assert isinstance(bridge, dict)
    hil_figure(f"delayed {r['delayed']} datagrams; bridge counted {bridge['sequence_gaps']} PUBs lost")
    assert bridge["sequence_gaps"] == 0


@pytest.mark.hil_check("UDP: cut link re-attached", device="cpython-udp")
def test_udp_cut_link_is_re_attached(
    udp_device: tuple[HilBridge, DatagramFaultProxy], hil_figure: Figure
) -> None:
    b, proxy = udp_device
    detaches = len(b.sink.detaches)
    proxy.cut(2.5)
    b.run_until(lambda: len(b.sink.detaches) > detaches, 10.0, "the bridge notices the silence")
    took = b.run_until(lambda: b.attached, 15.0, "re-attach after the cut")
    assert b.deliver(f"{T}.set_led", {"on": True}).error is None
    hil_figure(f"detached ({b.sink.detaches[-1][1]}), re-attached {1000 * took:.0f} ms later")


@pytest.mark.hil_check("attach through 1 % corrupt + 1 % loss")
def test_the_bridge_attaches_through_a_bad_link(hil_simulated: Target, hil_figure: Figure) -> None:
    """Attach while the link is bad: every endpoint is known within 5 s, still through the bad link (the
    bridge asks for exactly the DESCRIBEs that did not arrive whole, at once; hil/README.md has figures)."""
    proxy = hil_simulated.proxy
    assert proxy is not None
    proxy.set_rates(BAD_LINK)
    bridge = HilBridge(hil_simulated.link, name="badlink")
    try:
        took = bridge.wait_attached(5.0)
        first = len(bridge.mgr.endpoints)
        n = bridge.mgr.info.n_endpoints if bridge.mgr.info else 0
        assert n > 0
        took += bridge.run_until(lambda: sorted(bridge.mgr.endpoints) == list(range(n)), 5.0 - took,
                                 f"topic ids 0..{n - 1} all described through the bad link (had {first})")
        assert bridge.mgr.state == ATTACHED
        assert len(bridge.mgr.by_topic) == n  # n distinct topics, as the device described them
        c = bridge.mgr.counters
        hil_figure(f"all {n} endpoints after {took:.2f} s ({bridge.mgr.attach.queries} QUERYs, "
                   f"{c.crc_errors + c.cobs_errors + c.decode_errors} damaged frames rejected)")
    finally:
        proxy.set_rates(NO_FAULTS)
        bridge.close()
