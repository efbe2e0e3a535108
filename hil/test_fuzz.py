"""Fuzz targets: the host's frame decoder path (the bridge's link manager), ether_lite's frame decoder and
ether_lite's CBOR decoder. No crash (only the documented errors), no hang (a deadline per example), and
bounded memory (tracemalloc peak per example).

The regular suite runs a bounded budget (a few seconds). The long run:
``ETHER_SLOW=1 pytest hil/test_fuzz.py``
(see hil/README.md).
"""

from __future__ import annotations

import contextlib
import os
import tracemalloc
import tty
from collections.abc import Iterator

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ether_lite import cbor as lite_cbor
from ether_lite import framing, protocol
from hil.bridge_harness import HilBridge

SLOW = os.environ.get("ETHER_SLOW") == "1"
BUDGET = settings(
    max_examples=20_000 if SLOW else 150,
    deadline=None if SLOW else 2000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=not SLOW,
)
# memory one example may use at its peak, whatever it claims to contain. A fuzzed DESCRIBE makes the bridge
# build a pydantic model for the endpoint (about 0.3 MB, once per new field set), so the bound is 1 MiB:
# still far below what trusting a claimed length (up to 2**64) would allocate.
PEAK_BYTES = 1024 * 1024


def valid_bodies() -> st.SearchStrategy[bytes]:
    """Bodies of real messages (to mutate): what a device sends and what a host sends."""
    msgs = st.one_of(
        st.builds(lambda t, s, v: protocol.pub(t, s, 1234, [v]), st.integers(0, 3), st.integers(0, 511),
                  st.floats(allow_nan=False, width=32)),
        st.builds(lambda i: protocol.pong(i, 99), st.integers(0, 1 << 29)),
        st.builds(lambda m: protocol.ack(m), st.integers(1, 65535)),
        st.builds(lambda t: protocol.log(20, t), st.text(max_size=40)),
        st.just(protocol.hello("fuzz", 1, "fw", 3, 1 << 30)),
        st.just(protocol.describe(0, "Fuzz.read", 0, [["x", "f"]], 0.1)),
        st.just(protocol.describe(2, "Fuzz.wave", 0, [["w", "[i2"]], None)),
        st.builds(lambda s, b: protocol.pub(2, s, 99, [cbor2.CBORTag(77, b)]), st.integers(0, 511),
                  st.binary(max_size=40)),
    )
    return msgs.map(lambda m: cbor2.dumps(m, canonical=True))


def mutated(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    out = bytearray(data)
    for kind, pos, val in edits:
        if not out:
            out.append(val)
            continue
        pos %= len(out)
        if kind == 0:
            out[pos] = val
        elif kind == 1:
            del out[pos]
        else:
            out.insert(pos, val)
    return bytes(out)


edits = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1 << 16), st.integers(0, 255)), max_size=6)
streams = st.one_of(
    st.binary(max_size=2048),
    st.builds(lambda bodies, e: mutated(b"".join(framing.encode_frame(b) for b in bodies), e),
              st.lists(valid_bodies(), min_size=1, max_size=8), edits),
)


@contextlib.contextmanager
def bounded_memory(what: str) -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BYTES, f"{what} peaked at {peak} bytes"


# -- ether_lite: the frame decoder ------------------------------------------------------------------------
@BUDGET
@given(data=streams, cut=st.integers(1, 64))
def test_lite_frame_decoder_takes_any_bytes(data: bytes, cut: int) -> None:
    dec = framing.FrameDecoder()
    with bounded_memory("FrameDecoder"):
        bodies = []
        for i in range(0, len(data), cut):
            bodies += dec.frames(data[i : i + cut])
    for body in bodies:  # what it lets through has a valid CRC and fits a frame
        assert len(body) <= framing.MAX_BODY
        assert framing.decode_frame(framing.encode_frame(body)) == body
    zeros = data.count(0)
    assert dec.frames_ok + dec.crc_errors + dec.cobs_errors + dec.oversize <= zeros


# -- ether_lite: the CBOR decoder ---------------------------------------------------------------------------
cbor_inputs = st.one_of(
    st.binary(max_size=300),
    st.builds(mutated, valid_bodies(), edits),
    # heads claiming huge lengths with few bytes behind them
    st.builds(lambda major, n, tail: bytes([major << 5 | 27]) + n.to_bytes(8, "big") + tail,
              st.integers(2, 5), st.integers(0, (1 << 64) - 1), st.binary(max_size=16)),
)


@BUDGET
@given(data=cbor_inputs)
def test_lite_cbor_decoder_raises_only_its_error(data: bytes) -> None:
    with bounded_memory("ether_lite.cbor.loads"):
        try:
            value = lite_cbor.loads(data)  # type: ignore[no-untyped-call]
        except lite_cbor.CBORDecodeError:
            return
    try:  # whatever it accepts, cbor2 reads the same way
        expected = cbor2.loads(data)
    except Exception:  # cbor2 is laxer in places (e.g. trailing bytes) and stricter in others
        return
    assert same(value, expected), f"ether_lite decodes {data.hex()} as {value!r}, cbor2 as {expected!r}"


def same(lite: object, ref: object) -> bool:
    """ether_lite's value equals cbor2's, mapping the codecs' own types for tags, simple values, undefined."""
    if isinstance(ref, cbor2.CBORTag):
        return isinstance(lite, lite_cbor.CBORTag) and lite.tag == ref.tag and same(lite.value, ref.value)
    if isinstance(lite, lite_cbor.CBORTag):  # cbor2 gave a known tag its meaning (a datetime, a set...)
        return True
    if isinstance(ref, cbor2.CBORSimpleValue):
        return isinstance(lite, lite_cbor.CBORSimpleValue) and lite.value == ref.value
    if ref is cbor2.undefined:
        return lite is lite_cbor.undefined
    if isinstance(ref, float) and ref != ref:
        return isinstance(lite, float) and lite != lite
    if isinstance(ref, list | tuple):
        return isinstance(lite, list | tuple) and len(lite) == len(ref) and all(map(same, lite, ref))
    if isinstance(ref, dict):
        if not isinstance(lite, dict) or len(lite) != len(ref):
            return False
        try:
            return all(k in lite and same(lite[k], v) for k, v in ref.items())
        except TypeError:  # unhashable keys on one side only
            return False
    return type(lite) is type(ref) and lite == ref

# -- ether_lite: the device's own decoder (what a board loads), typed arrays in a DELIVER -------------------
def _typed_items() -> st.SearchStrategy[bytes]:
    """Typed arrays (RFC 8746) and things that look like them: any tag number near the typed-array range in
    every head width, over any item (bytes of any length, text, arrays, nested tags), inside a DELIVER."""
    tag = st.integers(0, 100).flatmap(
        lambda t: st.sampled_from(([bytes([0xC0 | t])] if t < 24 else [])
                                  + [bytes([0xD8, t]), b"\xd9" + t.to_bytes(2, "big"),
                                     b"\xda" + t.to_bytes(4, "big"), b"\xdb" + t.to_bytes(8, "big")]))
    content = st.one_of(
        st.binary(max_size=64).map(lambda b: cbor2.dumps(b)),
        st.binary(max_size=24).map(lambda b: cbor2.dumps(b)[:-1] if b else b"\x41"),  # short by a byte
        st.builds(lambda n, tail: bytes([0x5B]) + n.to_bytes(8, "big") + tail,  # claims up to 2**64 bytes
                  st.integers(0, (1 << 64) - 1), st.binary(max_size=8)),
        st.sampled_from([b"\x63abc", b"\x82\x01\x02", b"\xd8\x4d\x42\x01\x00", b"\xa0", b"\xf6"]),
    )
    items = st.builds(lambda t, c: t + c, tag, content)
    return st.builds(lambda head, its: bytes([0x83 + len(its)]) + head + b"".join(its),
                     st.sampled_from([b"\x03\x00\x01", b"\x03\x05\x19\x01\x00"]),
                     st.lists(items, min_size=1, max_size=3))


device_inputs = st.one_of(
    _typed_items(),
    st.builds(mutated, _typed_items(), edits),
    st.builds(mutated, st.just(cbor2.dumps(protocol.deliver(4, 9, [cbor2.CBORTag(77, b"\x01\x00\xfe\xff")]),
                                           canonical=True)), edits),
)


@BUDGET
@given(data=device_inputs)
def test_lite_device_decoder_reads_typed_arrays_and_refuses_the_rest(data: bytes) -> None:
    """What a board runs on a DELIVER (``ether_lite.cbor_decoder``): only its error for anything malformed,
    memory bounded by the input whatever a length claims, and every typed array it accepts is the
    little-endian one cbor2 sees, as an ``array.array`` of that element type."""
    import array

    from ether_lite import cbor_decoder

    with bounded_memory("ether_lite.cbor_decoder.loads"):
        try:
            value = cbor_decoder.loads(data)  # type: ignore[no-untyped-call]
        except lite_cbor.CBORDecodeError:  # (the same class: ether_lite.cbor_core's)
            return
    expected = cbor2.loads(data)
    assert isinstance(value, list) and len(value) == len(expected)
    for got, ref in zip(value, expected, strict=True):
        if isinstance(got, array.array):
            assert isinstance(ref, cbor2.CBORTag) and ref.tag in protocol.ARRAY_TAGS.values(), (got, ref)
            assert got.tobytes() == ref.value and got.itemsize * len(got) == len(ref.value)
        else:
            assert same(got, ref), (got, ref)


# -- the host: the bridge's link manager over a real pty --------------------------------------------------
class FakeBoard:
    """The device end of a pty, written by hand: HELLO and DESCRIBE, then whatever the fuzzer makes."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.master, view) :]

    def drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self.master, 65536):
                pass

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


@pytest.fixture(scope="module")
def attached_bridge() -> Iterator[tuple[FakeBoard, HilBridge]]:
    board = FakeBoard()
    bridge = HilBridge(f"serial://{board.path}", name="fuzz", ping_interval_s=10.0, lease_s=60.0)
    try:
        bridge.loop.step(0.05)
        board.drain()
        for msg in (protocol.hello("fuzz", 1, "fw", 3, 1 << 30),
                    protocol.describe(0, "Fuzz.read", 0, [["x", "f"]], 0.1),
                    protocol.describe(1, "Fuzz.set", 1, [["on", "b"]], None),
                    protocol.describe(2, "Fuzz.wave", 0, [["w", "[i2"]], None)):
            board.send(framing.encode_frame(cbor2.dumps(msg, canonical=True)))
        bridge.wait_attached(5.0)
        yield board, bridge
    finally:
        bridge.close()
        board.close()


@BUDGET
@given(data=streams)
def test_host_link_manager_takes_any_bytes(attached_bridge: tuple[FakeBoard, HilBridge], data: bytes) -> None:
    board, bridge = attached_bridge
    before = bridge.mgr.counters.as_dict()
    with bounded_memory("the bridge's link manager"):
        for i in range(0, len(data), 512):
            board.send(data[i : i + 512])
            bridge.loop.step(0.0)
        board.send(b"\x00")  # end whatever frame is open, so the next example starts clean
        bridge.run_until(lambda: bridge.mgr.counters.bytes_in >= before["bytes_in"] + len(data) + 1, 2.0,
                         "the bridge reads the fuzz bytes")
    board.drain()
    after = bridge.mgr.counters.as_dict()
    assert all(after[k] >= before[k] for k in before), "a counter went backwards"
    if bridge.mgr.info is None or bridge.mgr.info.device_id != "fuzz" or not bridge.attached:
        # a fuzzed HELLO may legitimately re-describe the device; put the original one back
        for msg in (protocol.hello("fuzz", 1, "fw", 3, 1 << 30),
                    protocol.describe(0, "Fuzz.read", 0, [["x", "f"]], 0.1),
                    protocol.describe(1, "Fuzz.set", 1, [["on", "b"]], None),
                    protocol.describe(2, "Fuzz.wave", 0, [["w", "[i2"]], None)):
            board.send(framing.encode_frame(cbor2.dumps(msg, canonical=True)))
        bridge.run_until(lambda: bridge.attached, 5.0, "re-attach after a fuzzed HELLO")

