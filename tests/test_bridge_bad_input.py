"""Bad input never stops the bridge: each kind is counted and logged, and good frames still get through."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import pytest
from bridge_support import LoopThread, RecordingSink, device, scripted_device

from ether_lite import framing, protocol
from ether_medium.bridge.manager import ATTACHED, INCOMPATIBLE, LinkManager

HELLO = protocol.hello("scripted-1", 1234, "ether_lite test", 1, 1 << 30)
READ = protocol.describe(0, "Thermometer.read", protocol.DEVICE_PUBLISHES, [["celsius", "f"]], 0.1)


def test_garbage_oversize_and_undecodable_frames(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    sink = RecordingSink()
    with scripted_device() as dev:
        dev.on_query(HELLO, READ)
        mgr = LinkManager("thermo1", dev.url, sink)
        with LoopThread(mgr):
            sink.wait(lambda: mgr.state == ATTACHED, what="attach")
            dev.send(protocol.pub(0, 0, 100, [21.5]))
            good = framing.encode_frame(b"\x83\x02\x01\xf9\x4d\x60")  # a PUB, corrupted below
            dev.write(random.Random(4).randbytes(64).replace(b"\x00", b"\x01") + b"\x00")  # line noise
            dev.write(good[:3] + bytes([good[3] ^ 0x40]) + good[4:])  # CRC mismatch
            dev.write(b"\x11" * 400 + b"\x00")  # oversize
            dev.write(framing.encode_frame(b"\xff\xfe"))  # not CBOR
            dev.write(framing.encode_frame(b"\x82\x02"))  # truncated CBOR
            dev.write(framing.encode_frame(b"\x01\x02"))  # trailing bytes after one item
            dev.send(["not", "a", "message"])
            dev.send([protocol.PUB, 1 << 31])  # ref out of range
            dev.send(protocol.deliver(0, 1, [1]))  # a kind the host sends, not a device
            dev.send(protocol.pub(0, 1, 110, [21.75]))
            sink.wait(lambda: len(sink.pubs_of("thermo1")) == 2, what="the two good PUBs")
            assert dev.wait_received(protocol.ERROR)[1] == protocol.ERR_MALFORMED
            c = mgr.counters
            assert c.crc_errors >= 1 and c.oversize == 1
            assert c.decode_errors == 6
            assert mgr.state == ATTACHED
            assert [d["celsius"] for d in sink.pubs_of("thermo1")] == [21.5, 21.75]
    assert "CRC mismatch" in caplog.text and "oversize" in caplog.text
    assert "not a valid message" in caplog.text


def test_pub_before_describe_asks_for_a_description(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    sink = RecordingSink()
    with scripted_device() as dev:
        mgr = LinkManager("thermo1", dev.url, sink)
        with LoopThread(mgr):
            dev.wait_received(protocol.QUERY)  # sent on connect; nobody answers it yet
            dev.send(protocol.pub(0, 0, 100, [21.5]))
            sink.wait(lambda: mgr.counters.rejected == 1, what="PUB rejected")
            dev.on_query(HELLO, READ)
            dev.wait_received(protocol.QUERY)  # the host asks again after the stray PUB (or its timer)
            sink.wait(lambda: mgr.state == ATTACHED, what="attach")
            dev.send(protocol.pub(0, 1, 100, [22.0]))
            dev.send(protocol.pub(0, 2, 100, [22.0, 1.0]))  # wrong number of values
            dev.send(protocol.pub(0, 3, 100, ["hot"]))  # wrong type
            dev.send(protocol.pub(0, 6, 100, [23.0]))  # seq 4 and 5 lost
            dev.send(protocol.pub(0, 6, 100, [23.0]))  # duplicate
            sink.wait(lambda: len(sink.pubs_of("thermo1")) == 2, what="two good PUBs")
            sink.wait(lambda: mgr.counters.duplicates == 1, what="duplicate counted")
            c = mgr.counters
            assert c.rejected == 3 and c.sequence_gaps == 2
    assert "before the device described itself" in caplog.text
    assert "has 2 value(s)" in caplog.text and "described as float" in caplog.text
    assert "2 PUB(s) on Thermometer.read lost" in caplog.text


def test_bad_describes_are_refused_and_the_rest_attached(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    sink = RecordingSink()
    with scripted_device() as dev:
        dev.on_query(
            protocol.hello("scripted-2", 99, "test", 5, 1 << 30),
            READ,
            protocol.describe(
                1, "Thermometer.read", protocol.DEVICE_PUBLISHES, [["x", "f"]], None
            ),  # duplicate
            protocol.describe(2, "Bad name", protocol.DEVICE_PUBLISHES, [["x", "f"]], None),
            protocol.describe(3, "Relay.set", protocol.DEVICE_SUBSCRIBES, [["class", "b"]], None),
            protocol.describe(4, "Relay.toggle", protocol.DEVICE_SUBSCRIBES, [["on", "q"]], None),  # bad type
        )
        mgr = LinkManager("board", dev.url, sink)
        with LoopThread(mgr):
            sink.wait(lambda: mgr.state == ATTACHED, what="attach with the valid endpoint only")
            assert sorted(mgr.by_topic) == ["Thermometer.read"]
            assert mgr.counters.describe_errors == 4
            assert mgr.counters.decode_errors == 0
    assert "same name as topic id 0" in caplog.text
    assert "'Bad name' contains spaces" in caplog.text
    assert "'class' is not a usable Python identifier" in caplog.text
    assert "DESCRIBE of topic id 4 refused: DESCRIBE field ['on', 'q']" in caplog.text


def test_wrong_protocol_version_names_both(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    sink = RecordingSink()
    with device(tmp_path, "future", device_id="board-f", version=2) as dev:
        mgr = LinkManager("future1", dev.url, sink)
        with LoopThread(mgr):
            sink.wait(lambda: mgr.state == INCOMPATIBLE, what="incompatible")
            sink.wait(
                lambda: "speaks protocol version 2; this bridge speaks version 1" in caplog.text,
                what="the log line",
            )
            assert mgr.counters.version_errors >= 1
            assert sink.count("attached") == 0
            assert dev.proc.poll() is None


def test_stray_pub_while_attached_queries_once_and_redescribes() -> None:
    sink = RecordingSink()
    with scripted_device() as dev:
        dev.on_query(HELLO, READ)
        mgr = LinkManager("thermo1", dev.url, sink)
        with LoopThread(mgr):
            sink.wait(lambda: mgr.state == ATTACHED, what="attach")
            dev.wait_received(protocol.QUERY)  # the one sent when the link opened
            dev.send(protocol.pub(7, 0, 100, [1.0]))  # a topic id beyond what the HELLO said
            assert dev.wait_received(protocol.QUERY) == protocol.query()  # so HELLO and all: did it reset?
            sink.wait(lambda: mgr.counters.frames_in >= 6, what="the HELLO and DESCRIBE answering it")
            dev.send(protocol.pub(0, 0, 100, [21.5]))
            sink.wait(lambda: len(sink.pubs_of("thermo1")) == 1, what="a PUB after the re-describe")
            with pytest.raises(AssertionError):  # and no further QUERY: the answer was complete
                dev.wait_received(protocol.QUERY, timeout_s=2.5)
            assert mgr.state == ATTACHED and sink.count("attached") == 1
            assert mgr.counters.rejected == 1


def test_describes_of_one_boot_accumulate_across_rounds() -> None:
    """Under line noise no QUERY round may arrive whole; DESCRIBEs of the same boot from several rounds
    together attach the device."""
    sink = RecordingSink()
    hello = protocol.hello("scripted-3", 77, "test", 2, 1 << 30)
    led = protocol.describe(1, "Thermometer.set_led", protocol.DEVICE_SUBSCRIBES, [["on", "b"]], None)
    with scripted_device() as dev:
        mgr = LinkManager("thermo1", dev.url, sink)
        with LoopThread(mgr):
            dev.wait_received(protocol.QUERY)
            dev.send(hello)
            dev.send(READ)  # round 1 lost the second DESCRIBE
            dev.send(hello)
            dev.send(led)  # round 2 lost the first
            sink.wait(lambda: mgr.state == ATTACHED, what="attach from two partial rounds")
            assert sorted(mgr.by_topic) == ["Thermometer.read", "Thermometer.set_led"]


def test_a_describe_that_never_arrives_is_asked_for_after_attaching(caplog: pytest.LogCaptureFixture) -> None:
    """A board whose DESCRIBE of one topic keeps getting lost is asked for exactly that topic id, attached
    with the others one second after its HELLO, and the missing topic is added as soon as its DESCRIBE comes
    through."""
    caplog.set_level(logging.INFO)
    sink = RecordingSink()
    hello = protocol.hello("scripted-4", 78, "test", 2, 1 << 30)
    led = protocol.describe(1, "Thermometer.set_led", protocol.DEVICE_SUBSCRIBES, [["on", "b"]], None)
    with scripted_device() as dev:
        dev.on_query(hello, READ)  # topic id 1 is "lost" every time
        mgr = LinkManager("thermo1", dev.url, sink)
        with LoopThread(mgr):
            dev.wait_received(protocol.QUERY)  # the one sent when the link opened
            assert dev.wait_received(protocol.QUERY) == protocol.query([1, 1])  # twice: two chances
            sink.wait(lambda: mgr.state == ATTACHED, timeout_s=5, what="attach without topic id 1")
            assert sorted(mgr.by_topic) == ["Thermometer.read"]
            dev.on_query(led)  # now it gets through
            sink.wait(lambda: "Thermometer.set_led" in mgr.by_topic, timeout_s=5, what="topic id 1 added")
            assert sink.count("attached") == 2  # the sink hears of the new topic (the fabric subscribes it)
    assert "the DESCRIBEs of topic ids [1] have not arrived whole yet" in caplog.text
    assert "every topic is described now" in caplog.text


def test_describes_whose_hello_was_lost_count_for_the_next_hello() -> None:
    sink = RecordingSink()
    hello = protocol.hello("scripted-5", 79, "test", 2, 1 << 30)
    led = protocol.describe(1, "Thermometer.set_led", protocol.DEVICE_SUBSCRIBES, [["on", "b"]], None)
    with scripted_device() as dev:
        mgr = LinkManager("thermo1", dev.url, sink)
        with LoopThread(mgr):
            dev.wait_received(protocol.QUERY)
            dev.send(READ)  # the HELLO before these was lost on the line
            dev.send(led)
            dev.send(hello)  # the one a QUERY brought; its own DESCRIBEs are lost this time
            sink.wait(
                lambda: mgr.state == ATTACHED, timeout_s=0.9, what="attach at this HELLO, no more rounds"
            )
            assert sorted(mgr.by_topic) == ["Thermometer.read", "Thermometer.set_led"]
