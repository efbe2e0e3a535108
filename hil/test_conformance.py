"""The device conformance suite: every device that runs ether_lite must pass it.

Runs against the simulated CPython and MicroPython devices, or a real board with ``--hil-link``.
Protocol-level checks talk to the device with a probe (``hil_probe``); the rest go through the bridge's
link manager (``hil_bridge``). Each test is one row of the table printed at the end.
"""

from __future__ import annotations

import random
import shlex
import struct
import time
from collections.abc import Callable

import pytest
from cbor2 import CBORTag

from ether_lite import framing, protocol
from ether_medium.bridge.arrays import MULTI_TAG
from hil.bridge_harness import HilBridge
from hil.probe import DeviceProbe
from hil.targets import Target

Figure = Callable[[str], None]  # the hil_figure fixture: a row's figure in the table

RATE_TOLERANCE = 0.15  # a publisher's measured rate must be within 15 % of its declared rate
RATE_WINDOW_S = 2.0
SYNC_UNCERTAINTY_S = 0.005  # time synchronisation must reach +-5 ms
BURST = 500  # samples published back to back to measure the maximum publish rate

T = "Thermometer"
LONG_TEXT = "".join(chr(0x30 + i % 75) for i in range(200))  # DELIVER body of about 210 B (largest: 256)
WAVE_SAMPLES = 100  # int16: a DELIVER and a PUB of about 210 B


@pytest.mark.hil_check("HELLO/DESCRIBE well-formed")
def test_hello_and_describe_are_well_formed(hil_probe: DeviceProbe, hil_figure: Figure) -> None:
    hello, described = hil_probe.query()
    assert protocol.version_of(hello[0]) == protocol.VERSION
    _, device_id, boot_id, firmware, n, period = hello
    assert device_id and boot_id < 1 << 30 and firmware
    assert period >= 2 and period & (period - 1) == 0, f"ticks_period {period} is not a power of two"
    assert 0 < n <= protocol.MAX_ENDPOINTS
    assert sorted(described) == list(range(n)), f"DESCRIBE topic ids {sorted(described)}, HELLO said {n}"
    names = [(d[2], d[3]) for d in described.values()]
    assert len(set(names)) == n, f"duplicate endpoints: {names}"
    for d in described.values():
        assert protocol.check(d) == protocol.DESCRIBE
        assert d[5] is None or d[5] > 0, f"{d[2]}: every_s {d[5]!r}"
    c = hil_probe.counters
    assert c.crc_errors == c.cobs_errors == c.decode_errors == c.malformed == 0, c.problems[:3]
    hil_figure(f"{device_id!r}, {n} endpoints, firmware {firmware!r}")


@pytest.mark.hil_check("QUERY for topic ids answered")
def test_a_query_for_topic_ids_brings_just_their_describes(
    hil_probe: DeviceProbe, hil_figure: Figure
) -> None:
    """``[9, n-1, 0, n]``: the DESCRIBEs of n-1 and 0 in that order, no HELLO, then ERROR 3 for topic id n
    (which the device does not have). What the bridge asks when DESCRIBEs were lost on a noisy link."""
    hello, described = hil_probe.query()
    n = hello[4]
    hil_probe.ping(4343)  # the device answers in order: what it sent before the PONG is over
    since = hil_probe.mark()
    t0 = time.monotonic()
    hil_probe.send(protocol.query([n - 1, 0, n]))
    err = hil_probe.wait_for(lambda h: h.kind == protocol.ERROR, 3.0, f"ERROR 3 for topic id {n}", since)
    took = err.host_t - t0
    answer = [h.msg for h in hil_probe.heard[since : hil_probe.heard.index(err)]
              if h.kind in (protocol.HELLO, protocol.DESCRIBE)]
    assert [m[0] for m in answer] == [protocol.DESCRIBE] * 2, answer
    assert [m[1:4] for m in answer] == [described[n - 1][1:4], described[0][1:4]], answer
    assert err.msg[1] == protocol.ERR_UNKNOWN_TOPIC and err.msg[3:] == [n], err.msg
    hil_figure(f"DESCRIBE {n - 1}, DESCRIBE 0, ERROR 3 for {n}, after {1000 * took:.1f} ms")


@pytest.mark.hil_check("protocol version checked")
def test_a_frame_of_another_version_gets_error_1(hil_probe: DeviceProbe, hil_figure: Figure) -> None:
    since = hil_probe.mark()
    hil_probe.send([protocol.header(protocol.PING, version=2), 77])
    err = hil_probe.wait_for(lambda h: h.kind == protocol.ERROR, 2.0, "ERROR for a version-2 frame", since)
    assert err.msg[1] == protocol.ERR_VERSION and err.msg[3:5] == [2, protocol.VERSION], err.msg
    assert not any(h.kind == protocol.PONG and h.msg[1] == 77 for h in hil_probe.heard[since:])
    hil_probe.ping(78)  # and it still answers version 1
    hil_figure(f"ERROR 1 {err.msg[2]!r}")


@pytest.mark.hil_check("garbage does not stop it")
def test_garbage_does_not_stop_the_device(hil_probe: DeviceProbe, hil_figure: Figure) -> None:
    rng = random.Random(6)
    junk = [
        bytes(rng.randrange(256) for _ in range(2048)),  # noise with zeros in it
        bytes(rng.randrange(1, 256) for _ in range(1000)) + b"\x00",  # far over the largest frame
        framing.encode_frame(b"\xff\xfe")[:-3] + b"\x12\x34\x00",  # bad CRC
        framing.encode_frame(b"\x1c"),  # valid frame, malformed CBOR
        framing.encode_frame(b"\xa1\x01\x02"),  # CBOR, but not an array
        framing.encode_frame(b"\x82\x03\x18\x1f"),  # DELIVER too short
        b"\x00\x00\x00",
    ]
    before = hil_probe.mark()
    for chunk in junk:
        hil_probe.send_raw(chunk)
    t_send, t_recv, _ = hil_probe.ping(4242, timeout_s=3.0)
    hil_probe.wait_for(lambda h: h.kind == protocol.PUB, 2.0, "a PUB after the garbage", hil_probe.mark())
    errors = [h.msg[1] for h in hil_probe.of_kind(protocol.ERROR, before)]
    hil_figure(f"{sum(map(len, junk))} B of garbage; PONG after {1000 * (t_recv - t_send):.1f} ms; "
               f"device answered ERROR {sorted(set(errors))}")


@pytest.mark.hil_check("publishers keep their rate")
def test_every_publisher_keeps_its_declared_rate(hil_bridge: HilBridge, hil_figure: Figure) -> None:
    timed = [e for e in hil_bridge.mgr.endpoints.values() if e.publishes and e.every_s]
    assert timed, "the device declares no publisher with a rate"
    # Readings carry device time (mapped to time.time()) only after the first PONG; before that the sink's
    # time.monotonic() is all there is. One window must use one clock: wait until the device is time-synced
    # (this bounds a hang, it is not a speed requirement), then measure in device time.
    hil_bridge.run_until(lambda: all(
        any(r.reading.device_time is not None for r in hil_bridge.sink.on(ep.topic)) for ep in timed
    ), 30.0, "a time-synced reading of every timed publisher")
    since = len(hil_bridge.sink.received)
    gaps = hil_bridge.mgr.counters.sequence_gaps
    hil_bridge.run_for(RATE_WINDOW_S)
    for ep in timed:
        got = hil_bridge.sink.on(ep.topic, since)
        assert len(got) >= 3, f"{ep.topic}: {len(got)} readings in {RATE_WINDOW_S} s"
        assert all(r.reading.device_time is not None for r in got), f"{ep.topic}: lost its time sync"
        times = [t for r in got if (t := r.reading.device_time) is not None]
        rate = (len(got) - 1) / (times[-1] - times[0])
        assert ep.every_s is not None
        declared = 1.0 / ep.every_s
        hil_figure(f"{ep.topic} {rate:.2f} Hz (declared {declared:g} Hz +-{RATE_TOLERANCE:.0%})")
        assert abs(rate - declared) <= RATE_TOLERANCE * declared, f"{ep.topic}: {rate:.2f} Hz"
    assert hil_bridge.mgr.counters.sequence_gaps == gaps


@pytest.mark.hil_check("DELIVER acked and acted on")
def test_a_delivery_is_acknowledged_and_acted_on(hil_bridge: HilBridge, hil_figure: Figure) -> None:
    for on in (True, False):
        since = len(hil_bridge.sink.received)
        t0 = time.monotonic()
        d = hil_bridge.deliver(f"{T}.set_led", {"on": on})
        assert d.error is None, d.error
        def told(on: bool = on, since: int = since) -> bool:
            return any(r.data["on"] is on for r in hil_bridge.sink.on(f"{T}.led", since))

        hil_bridge.run_until(told, 3.0, "the device reports the LED it was told to set")
        acted = time.monotonic() - t0
    assert d.rtt is not None
    hil_figure(f"ACK after {1000 * d.rtt:.1f} ms, acted on after {1000 * acted:.1f} ms")


@pytest.mark.hil_check("largest DELIVER acted on")
def test_a_delivery_near_the_largest_frame_is_acted_on(hil_bridge: HilBridge, hil_figure: Figure) -> None:
    text = LONG_TEXT
    since = len(hil_bridge.sink.received)
    d = hil_bridge.deliver(f"{T}.echo", {"text": text})
    assert d.error is None, d.error
    hil_bridge.run_until(lambda: bool(hil_bridge.sink.on(f"{T}.echoed", since)), 3.0, "the echo of the text")
    assert hil_bridge.sink.on(f"{T}.echoed", since)[-1].data["text"] == text
    hil_figure(f"{len(text)} characters there and back, ACK after {1000 * (d.rtt or 0):.1f} ms")


@pytest.mark.hil_check("arrays there and back")
def test_an_array_goes_to_the_device_and_comes_back(hil_bridge: HilBridge, hil_figure: Figure) -> None:
    """An int16 array delivered to ``set_wave`` (an ``array.array('h')`` on the device) is published back
    on ``Thermometer.wave`` as a typed array, which the bridge hands on as an int16 array (PROTOCOL.md,
    "Arrays"), as the fabric's inline int16 array; 100 samples: frames of about 210 bytes both ways."""
    samples = [(i * 331) % 65536 - 32768 for i in range(WAVE_SAMPLES)]
    since = len(hil_bridge.sink.received)
    d = hil_bridge.deliver(f"{T}.set_wave", {"samples": samples})
    assert d.error is None, d.error
    hil_bridge.run_until(lambda: bool(hil_bridge.sink.on(f"{T}.wave", since)), 3.0,
                         "the array published back")
    got = hil_bridge.sink.on(f"{T}.wave", since)[-1].data["samples"]
    int16_le = protocol.ARRAY_TAGS["[i2"]
    assert got == CBORTag(MULTI_TAG, [[WAVE_SAMPLES], CBORTag(int16_le, struct.pack("<100h", *samples))]), got
    hil_figure(f"{WAVE_SAMPLES} int16 samples there and back, ACK after {1000 * (d.rtt or 0):.1f} ms")


@pytest.mark.hil_check("time sync uncertainty")
def test_time_sync_reaches_the_stated_uncertainty(hil_bridge: HilBridge, hil_figure: Figure) -> None:
    since = len(hil_bridge.sink.received)

    def good() -> bool:
        r = [x.reading for x in hil_bridge.sink.received[since:]]
        return any(
            x.uncertainty is not None and x.device_time is not None and x.uncertainty <= SYNC_UNCERTAINTY_S
            for x in r
        )

    took = hil_bridge.run_until(good, 10.0, f"time uncertainty <= {SYNC_UNCERTAINTY_S * 1e3:g} ms")
    hil_bridge.run_for(1.0)  # then let it converge a little, for the figure
    best = min(x.reading.uncertainty for x in hil_bridge.sink.received[since:]
               if x.reading.uncertainty is not None and x.reading.device_time is not None)
    hil_figure(f"+-{best * 1e3:.2f} ms (required <= {SYNC_UNCERTAINTY_S * 1e3:g} ms) after {took:.1f} s, "
               f"{hil_bridge.mgr.counters.pongs} PONGs")


@pytest.mark.hil_check("maximum publish rate")
def test_maximum_publish_rate(hil_bridge: HilBridge, hil_figure: Figure) -> None:
    since = len(hil_bridge.sink.received)
    d = hil_bridge.mgr.deliver(f"{T}.burst", {"n": BURST})
    topic = f"{T}.sample"
    hil_bridge.run_until(lambda: len(hil_bridge.sink.on(topic, since)) >= BURST, 30.0,
                         f"{BURST} samples of a burst")
    got = hil_bridge.sink.on(topic, since)
    assert [r.data["i"] for r in got] == list(range(BURST))
    # In device time (the ms the device stamped each sample with): arrival times on the host measure how
    # late the host read a pty that buffered the whole burst, not how fast the device published.
    first, last = got[0].reading.device_time, got[-1].reading.device_time
    clock = "device time"
    if first is None or last is None:
        first, last, clock = got[0].mono, got[-1].mono, "host arrival, not time-synced"
    span = last - first
    rate = (BURST - 1) / span if span > 0 else float("inf")
    hil_bridge.run_until(lambda: d.done, 5.0, "the ACK of the burst")
    hil_figure(f"{rate:,.0f} messages/s over the link ({BURST} samples, none lost; {clock})")


@pytest.mark.hil_check("re-describe after reset")
def test_after_a_reset_the_device_re_describes_and_is_re_attached(
    hil_bridge: HilBridge, hil_figure: Figure
) -> None:
    mgr = hil_bridge.mgr
    assert mgr.info is not None
    old_boot, resets = mgr.info.boot_id, mgr.counters.resets
    t0 = time.monotonic()
    mgr.deliver(f"{T}.reset", {})  # a board may reboot before it can ACK: not required
    hil_bridge.run_until(
        lambda: mgr.info is not None and mgr.info.boot_id != old_boot and hil_bridge.attached,
        15.0, "re-attach after the device reset",
    )
    took = time.monotonic() - t0
    assert mgr.counters.resets == resets + 1
    since = len(hil_bridge.sink.received)
    hil_bridge.run_until(lambda: bool(hil_bridge.sink.on(f"{T}.read", since)), 3.0, "readings after reset")
    hil_figure(f"re-attached {1000 * took:.0f} ms after the reset (boot id {old_boot} -> {mgr.info.boot_id})")


@pytest.mark.hil_check("attach over cmd: (stdin/stdout)")
def test_the_bridge_starts_and_attaches_the_device_as_a_command(
    hil_target: Target, hil_figure: Figure
) -> None:
    from hil.targets import device_command

    if not hil_target.simulated:
        pytest.skip("a real board is not a command")
    command = device_command(hil_target, "hil-cmd")
    bridge = HilBridge("cmd:" + shlex.join(command), name="cmd")
    try:
        took = bridge.wait_attached(15.0)
        assert bridge.mgr.info is not None and bridge.mgr.info.device_id == "hil-cmd"
        # a freshly started interpreter can stall for longer than the 4 tries of a DELIVER (0.45 s) while
        # it warms up (seen with MicroPython under node on a loaded machine): wait until it answers pings
        bridge.run_until(lambda: bridge.mgr.counters.pongs >= 3, 10.0, "three PONGs from the new device")
        d = bridge.deliver(f"{T}.set_led", {"on": True})
        assert d.error is None, d.error
        pid = bridge.mgr.link.where
    finally:
        bridge.close()
    hil_figure(f"attached in {1000 * took:.0f} ms ({pid})")


@pytest.mark.hil_check("new host session's delivery acted on")
def test_a_new_host_session_is_not_taken_for_a_retransmission(hil_target: Target, hil_figure: Figure) -> None:
    first = HilBridge(hil_target.link, name="session1", device_id=hil_target.device_id)
    try:
        first.wait_attached(15.0)
        assert first.deliver(f"{T}.mark", {"i": 61}).error is None
    finally:
        first.close()
    second = HilBridge(hil_target.link, name="session2", device_id=hil_target.device_id)
    try:
        second.wait_attached(15.0)
        since = len(second.sink.received)
        d = second.deliver(f"{T}.mark", {"i": 62})
        assert d.error is None, d.error
        second.run_until(lambda: bool(second.sink.on(f"{T}.marks", since)), 2.0,
                         "the device acts on the new session's first delivery (publishes its marks)")
        assert second.sink.on(f"{T}.marks", since)[-1].data["bits"] >> 62 & 1
    finally:
        second.close()
    hil_figure(f"the second session's first delivery (msg_id {d.msg_id}) was acted on")
