"""Unit tests of the bridge's parts that need no device: clock mapping, link URLs, config, public names."""

from __future__ import annotations

import pytest

import ether_medium.bridge as bridge
from ether_lite import protocol
from ether_medium.bridge.clock import ClockSync
from ether_medium.bridge.endpoints import endpoint_from_describe
from ether_medium.bridge.links import open_link
from ether_medium.config import load_config
from ether_medium.errors import ConfigError, DescribeError, LinkUnavailable, LinkURLError


def test_public_names() -> None:
    assert sorted(bridge.__all__) == [
        "ClockSync",
        "DeviceProxy",
        "LinkCounters",
        "LinkManager",
        "device",
        "open_link",
    ]
    for name in bridge.__all__:
        assert getattr(bridge, name) is not None


def test_clock_maps_ticks_across_the_wrap_and_keeps_the_min_rtt_sample() -> None:
    period = 1 << 16  # a small period so the wrap is reached quickly
    clock = ClockSync(period)
    # device clock = host ms + 1000 (mod period); round trips 4 ms, then one of 0.2 ms, then 8 ms
    host0 = 100.0
    for i, rtt in enumerate([0.004, 0.0002, 0.008]):
        t_send = host0 + i
        mid = t_send + rtt / 2
        clock.add_pong(t_send, t_send + rtt, round(mid * 1000 + 1000) % period)
    assert clock.best is not None and clock.best.rtt == pytest.approx(0.0002)
    # a reading stamped at host time 103.5 (device ticks mod 2**16), mapped back
    t_dev = round(103.5 * 1000 + 1000)
    m = clock.map_ticks16(t_dev & 0xFFFF, now=103.52)
    assert m.synced and m.host_time == pytest.approx(103.5, abs=0.0015)
    assert m.uncertainty == pytest.approx(0.0001 + 0.001, abs=0.0005)
    # 70 s later the 16-bit stamp has wrapped; the prediction from the last PONG unwraps it
    t_dev = round(173.25 * 1000 + 1000)
    m = clock.map_ticks16(t_dev & 0xFFFF, now=173.3)
    assert m.host_time == pytest.approx(173.25, abs=0.01)
    m = clock.map_ticks(t_dev % period, now=173.3)
    assert m.host_time == pytest.approx(173.25, abs=0.01)


def test_clock_estimates_drift() -> None:
    clock = ClockSync(1 << 30)
    ppm = 80e-6
    for i in range(200):
        t = 10.0 + i * 0.25
        clock.add_pong(t, t + 0.001, round((t + 0.0005) * (1 + ppm) * 1000))
    assert clock.rate_ppm is not None and clock.rate_ppm == pytest.approx(80, abs=15)


def test_unsynced_before_the_first_pong() -> None:
    m = ClockSync().map_ticks16(123, now=5.0)
    assert not m.synced and m.host_time == 5.0


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("/dev/ttyACM0", "write serial:///dev/ttyACM0"),
        ("tcp://x:1", "unknown link scheme 'tcp'; known: cmd, serial, sim, udp"),
        ("udp://0.0.0.0", "expected udp://ADDRESS:PORT"),
        ("serial:///dev/ttyACM0?baud=fast", "baud must be an integer"),
        ("sim:thermo", "expected sim:package.module:ClassName"),
        ("cmd:   ", "empty command"),
    ],
)
def test_bad_link_urls_are_configuration_errors(url: str, reason: str) -> None:
    """A malformed URL is a ValueError naming the URL and what was expected, not "unavailable, retry"."""
    with pytest.raises(LinkURLError, match=reason.replace("?", r"\?").replace("(", r"\(")) as info:
        open_link(url)
    assert isinstance(info.value, ValueError) and not isinstance(info.value, LinkUnavailable)
    assert info.value.url == url and repr(url) in str(info.value)


def test_devices_config() -> None:
    cfg = load_config(
        {
            "devices": {
                "thermo1": {
                    "link": "serial:///dev/ttyACM0?baud=115200",
                    "device_id": "e661",
                    "topics": {"Thermometer.read": "lab.temperature"},
                }
            }
        }
    )
    dev = cfg.devices["thermo1"]
    assert dev.device_id == "e661" and dev.topics == {"Thermometer.read": "lab.temperature"}
    with pytest.raises(ConfigError, match=r"devices.thermo1.port: unknown key"):
        load_config({"devices": {"thermo1": {"link": "udp://0.0.0.0:5005", "port": 3}}})
    with pytest.raises(ConfigError, match=r"devices.thermo1.link: .*unknown link scheme 'usb'"):
        load_config({"devices": {"thermo1": {"link": "usb:thing"}}})


def test_describe_rename_and_model() -> None:
    msg = protocol.describe(
        0, "Thermometer.read", protocol.DEVICE_PUBLISHES, [["celsius", "f"], ["ok", "b"]], 1.0
    )
    ep = endpoint_from_describe(msg, {"Thermometer.read": "lab.temperature"}, 1)
    assert ep.topic == "lab.temperature" and ep.name == "Thermometer.read" and ep.method == "read"
    assert ep.model(celsius=1, ok=True).model_dump() == {"celsius": 1.0, "ok": True}
    with pytest.raises(ValueError, match="extra"):
        ep.model(celsius=1.0, ok=True, more=1)
    with pytest.raises(DescribeError, match="reserved"):
        endpoint_from_describe(protocol.describe(0, "Ether.x", 0, None, None), {}, 1)
    with pytest.raises(DescribeError, match=r"outside 0\.\.0"):
        endpoint_from_describe(protocol.describe(1, "A.b", 0, None, None), {}, 1)


def test_describe_defaults_make_fields_optional() -> None:
    fields = [["on", "b"], ["power", "a", None], ["n", "f", 3], ["mode", "s", "auto"]]
    ep = endpoint_from_describe(protocol.describe(1, "Heater.set_power", 1, fields, None), {}, 2)
    assert ep.defaults == {"power": None, "n": 3.0, "mode": "auto"}
    assert ep.model(on=True).model_dump() == {"on": True, "power": None, "n": 3.0, "mode": "auto"}
    with pytest.raises(ValueError, match="on"):
        ep.model(power=0.5)  # a field without a default stays required
    assert ep.signature() == (
        "Heater.set_power (sub on: bool, power: any = None, n: float = 3.0, mode: str = 'auto')"
    )
    assert ep.as_dict()["fields"] == [
        ["on", "b"], ["power", "a", None], ["n", "f", 3.0], ["mode", "s", "auto"]
    ]
    with pytest.raises(DescribeError, match=r"default 'x' of field 'n' is not of type int"):
        endpoint_from_describe(protocol.describe(0, "A.b", 1, [["n", "i", "x"]], None), {}, 1)
    with pytest.raises(protocol.ProtocolError, match="name, type, default"):
        protocol.check(protocol.describe(0, "A.b", 1, [["n", "i", 1, 2]], None))


@pytest.mark.parametrize("seq", [0, 23, 24, 300, 70000, 2**33])
def test_encode_device_matches_the_envelope(seq: int) -> None:
    from ether_medium.fabric.envelope import Envelope, decode, encode, encode_device, source_prefix

    env = Envelope(
        "Thermometer.read",
        {"celsius": 21.5, "ok": True},
        "thermo1",
        seq,
        1763771234.25,
        device_time=1763771234.2,
        device_uncertainty=0.00025,
        device_seq=seq * 3,
    )
    body = encode_device(
        env.data, source_prefix("thermo1"), seq, env.host_time, 1763771234.2, 0.00025, seq * 3
    )
    assert body == encode(env)[1]
    assert decode([b"Thermometer.read", body]) == env


def test_topic_sequence_on_a_stream_gaps_duplicates_and_wrap() -> None:
    from ether_medium.bridge.sequence import TopicSequence

    st = TopicSequence.first(510, 1000)
    assert st.accept(511, 1001) == (511, 0, False)
    assert st.accept(0, 1002) == (512, 0, False)  # wraps at 512, counted on
    assert st.accept(3, 1005) == (515, 2, False)  # 1 and 2 lost, at once (a stream does not reorder)
    assert st.accept(3, 1005).device_seq is None  # the same again: a duplicate
    assert st.accept(1, 1003).device_seq is None  # older than the newest: came already
    # 300 lost at once, time moving on: a jump, not a late arrival
    assert st.accept((3 + 301) % 512, 1005 + 301) == (515 + 301, 300, False)


def test_topic_sequence_on_a_datagram_link_late_is_no_loss() -> None:
    from ether_medium.bridge.sequence import TopicSequence

    st = TopicSequence.first(0, 7)
    assert st.accept(3, 10, now=1.0, grace_s=0.25) == (3, 0, False)  # 1, 2 missing, not lost yet
    assert st.accept(1, 8, now=1.01, grace_s=0.25) == (1, 0, True)  # late, same millisecond or not
    assert st.accept(1, 8, now=1.02, grace_s=0.25).device_seq is None  # and again: a duplicate
    assert st.accept(4, 11, now=1.1, grace_s=0.25) == (4, 0, False)
    assert st.expire(1.2) == 0
    assert st.expire(1.3) == 1  # 2 never came: lost once its grace is over
    assert st.accept(2, 9, now=1.35, grace_s=0.25) == (2, 0, True)  # later still: published, stays counted
    assert st.accept(5, 7, now=1.4, grace_s=0.25) == (5, 0, False)  # same millisecond as an old one: fine


def test_endpoint_data_of_checks_types() -> None:
    msg = protocol.describe(
        0, "A.b", 0, [["x", "f"], ["n", "i"], ["ok", "b"], ["s", "s"], ["raw", "y"], ["v", "a"]], None
    )
    ep = endpoint_from_describe(msg, {}, 1)
    assert ep.data_of([1, 2, True, "t", b"\x00", [1]]) == {
        "x": 1.0,
        "n": 2,
        "ok": True,
        "s": "t",
        "raw": b"\x00",
        "v": [1],
    }
    for bad, field in (
        ([True, 2, True, "t", b"", 0], "x"),
        ([1.0, 2.5, True, "t", b"", 0], "n"),
        ([1.0, 2, 1, "t", b"", 0], "ok"),
        ([1.0, 2, True, 3, b"", 0], "s"),
        ([1.0, 2, True, "t", "x", 0], "raw"),
    ):
        with pytest.raises(ValueError, match=f"field '{field}'"):
            ep.data_of(bad)


def test_clock_stamp_from_before_the_first_pong_wrapped() -> None:
    clock = ClockSync(1 << 30)
    clock.add_pong(10.0, 10.002, 10)  # the device's clock had just passed 0 (ticks 10)
    m = clock.map_ticks16(((1 << 30) - 5) & 0xFFFF, now=10.003)  # stamped 15 ms earlier, before the wrap
    assert m.host_time == pytest.approx(10.001 - 0.015, abs=0.002)


def test_field_type_names_are_one_table() -> None:
    """Signatures (bridge), the wiring check and `ether topics` name a board's field types alike."""
    from ether_medium.bridge.endpoints import type_name

    names = [type_name(t) for t in ("f", "i", "b", "s", "y", "a")]
    assert names == ["float", "int", "bool", "str", "bytes", "any"]
    assert type_name("[i2") == "int16[]" and type_name("[f4") == "float32[]"
    assert type_name("[h") == "array"  # a board's declared typecode, before DESCRIBE spells it
    assert type_name("?") == "any"
