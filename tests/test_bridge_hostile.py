"""Any body and any bytes from a link are counted, logged (folded) and dropped: nothing escapes the link
manager's state machine (issue 11). A real ether_lite Node on the in-memory link, on a fake clock
(tests/bridge_memory.py); hypothesis makes the bodies. The long fuzz is ``bench/fuzz.py bridge``."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from bridge_memory import Bench
from hypothesis import given, settings
from hypothesis import strategies as st

from ether_lite import framing, protocol
from ether_medium.bridge.manager import ATTACHED

# the bodies that killed the bridge process (TypeError in _on_body), and their like
BAD_BODIES = [
    b"",
    cbor2.dumps(5),
    cbor2.dumps([]),
    cbor2.dumps({}),
    cbor2.dumps(None),
    cbor2.dumps("x"),
    cbor2.dumps([None]),
    cbor2.dumps([1.5]),
    cbor2.dumps([[protocol.DESCRIBE]]),
    cbor2.dumps({0: 1}),
    cbor2.dumps([protocol.LOG, "x", "y"]),
    cbor2.dumps([protocol.ERROR, "x", 5]),
    cbor2.dumps([protocol.PONG, "a", "b"]),
    cbor2.dumps([protocol.ACK, "a", "b"]),
    cbor2.dumps([protocol.HELLO, 1, 2, 3, 4, 5]),
    cbor2.dumps([2**600, 1]),  # a header of another "version" whose ERROR 1 answer would not fit a frame
    cbor2.dumps([protocol.DESCRIBE, 10**30]),
    cbor2.dumps([protocol.PUB, 0, 2**70]),
]

# the headers of the messages a device sends
DEVICE_KINDS = [protocol.HELLO, protocol.DESCRIBE, protocol.PUB, protocol.ACK, protocol.PONG, protocol.LOG,
                protocol.ERROR]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=8),
    st.binary(max_size=8),
    st.sampled_from([*DEVICE_KINDS, 0x7F, 0xFF]),
)
values = st.recursive(
    scalars, lambda c: st.lists(c, max_size=7) | st.dictionaries(scalars, c, max_size=3), max_leaves=16
)
# messages whose first element is a real header: they get past the kind checks into the handlers
messages = st.builds(
    lambda k, rest: [k, *rest], st.sampled_from([*DEVICE_KINDS, protocol.QUERY]), st.lists(values, max_size=8)
)
bodies = st.one_of(values.map(cbor2.dumps), messages.map(cbor2.dumps), st.binary(max_size=64)).map(
    lambda b: b[: framing.MAX_BODY]
)


def attached_bench() -> Bench:
    b = Bench()
    b.run_until(lambda: b.mgr.state == ATTACHED and len(b.mgr.endpoints) == 8, 0.1)
    return b


def dropped(b: Bench) -> int:
    c = b.mgr.counters
    return c.cobs_errors + c.decode_errors + c.rejected + c.describe_errors + c.internal_errors


@pytest.mark.parametrize("body", BAD_BODIES, ids=lambda x: x.hex() or "empty")
def test_each_bad_body_is_counted_and_dropped(body: bytes) -> None:
    b = attached_bench()
    try:
        before = dropped(b)
        b.host.to_host.put(framing.encode_frame(body))
        b.step()
        c = b.mgr.counters
        assert c.internal_errors == 0
        assert dropped(b) == before + 1
        assert b.mgr.state == ATTACHED
    finally:
        b.close()


@settings(max_examples=300, deadline=None)
@given(st.lists(bodies, min_size=1, max_size=6), st.binary(max_size=80))
def test_no_body_and_no_bytes_escape_the_link_manager(some: list[bytes], noise: bytes) -> None:
    b = attached_bench()
    try:
        for body in some:
            b.host.to_host.put(framing.encode_frame(body))
        b.host.to_host.put(noise)
        b.host.to_host.put(b"\x00")
        for _ in range(5):
            b.step()  # nothing raises
        assert b.mgr.counters.internal_errors == 0  # and no handler failed behind the backstop
        # timers keep running; the device attaches again if a HELLO (another boot) or a frame of another
        # protocol version (QUERY again after incompatible_query_s) detached it
        b.run_for(b.mgr.timing.incompatible_query_s + 1.0, dt=0.05)
        assert b.mgr.state == ATTACHED
    finally:
        b.close()


def test_the_backstop_counts_what_a_handler_raises(caplog: pytest.LogCaptureFixture) -> None:
    b = attached_bench()
    try:

        def broken(msg: list[Any], now: float) -> None:
            raise RuntimeError("a bug")

        b.mgr._on_pong = broken  # type: ignore[method-assign]
        b.host.to_host.put(framing.encode_frame(cbor2.dumps(protocol.pong(1, 2))))
        b.step()
        assert b.mgr.counters.internal_errors >= 1 and b.mgr.state == ATTACHED
        assert "RuntimeError('a bug')" in caplog.text
    finally:
        b.close()


def test_error_codes_and_log_lines_are_bounded(caplog: pytest.LogCaptureFixture) -> None:
    """70k ERROR frames of distinct codes (each once added a dict entry never freed: ~8 MB) and a LOG
    flood: the tables stay capped, and LOG lines beyond LOG_RATE a second are dropped with a folded count."""
    import tracemalloc

    from ether_medium.bridge.device_reports import LOG_RATE
    from ether_medium.problems import MAX_KINDS

    b = attached_bench()
    passed: list[str] = []
    b.sink.device_log = lambda mgr, level, text: passed.append(text)  # type: ignore[method-assign]
    try:

        def flood(first: int, n: int) -> None:
            for code in range(first, first + n):
                b.host.to_host.put(framing.encode_frame(cbor2.dumps([protocol.ERROR, code, "x" * 40])))
                if code % 100 == 0:
                    b.step(0.0001)
            while b.host.to_host.buf:
                b.step(0.0001)

        flood(1000, 10_000)  # warm-up: the tables fill to their caps
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        flood(20_000, 60_000)
        grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
        tracemalloc.stop()
        assert b.mgr.counters.device_errors == 70_000
        assert len(b.mgr.problems.counts) <= MAX_KINDS + 1
        assert grown < 200_000, f"{grown} bytes held after 60k more ERROR codes"
        for i in range(5000):  # five thousand LOG lines within half a second, then a quiet second
            b.host.to_host.put(framing.encode_frame(cbor2.dumps([protocol.LOG, 20, f"line {i}"])))
            if i % 50 == 0:
                b.step(0.005)
        b.run_for(1.5, dt=0.05)
        c = b.mgr.counters
        assert c.logs == 5000 and len(passed) <= 2 * LOG_RATE and c.logs_dropped == 5000 - len(passed)
        assert "device log line(s) in the last" in caplog.text
        assert b.mgr.state == ATTACHED
    finally:
        b.close()


def test_frames_of_another_version_are_answered_at_most_once_a_second() -> None:
    """No amplifier: a flood of frames that each drew an ERROR 1 (or ERROR 2) gets one answer a second."""
    b = attached_bench()
    try:
        b.sent.clear()
        for i in range(200):
            body = [protocol.header(protocol.HELLO, 2), "x", i, "v2", 0, 8] if i % 2 else [None]
            b.host.to_host.put(framing.encode_frame(cbor2.dumps(body)))
            b.step(0.001)
        errors = [m for m in b.sent if m[0] == protocol.ERROR]
        assert 1 <= len(errors) <= 1, errors
    finally:
        b.close()
