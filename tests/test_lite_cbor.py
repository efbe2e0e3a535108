"""ether_lite's CBOR codec and framing against cbor2, with hypothesis: random values round-trip in both
directions and encode byte for byte the same; random and mutated bytes raise only the documented errors."""

import contextlib
import os
import sys
from pathlib import Path

import cbor2
from hypothesis import given, settings
from hypothesis import strategies as st

from ether_lite import cbor, framing, protocol

sys.path.insert(0, str(Path(__file__).resolve().parent / "micropython"))
from lite_checks import _same

# ETHER_SLOW=1 runs ten times the examples (thorough); the default keeps the suite fast.
SCALE = 10 if os.environ.get("ETHER_SLOW") else 1

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.floats(width=32)
    | st.floats(width=16)
    | st.text(max_size=40)
    | st.binary(max_size=40)
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=6)
        | st.dictionaries(st.text(max_size=8) | st.integers(-1000, 1000), children, max_size=6)
    ),
    max_leaves=30,
)


@settings(max_examples=133 * SCALE, deadline=None)
@given(values)
def test_ether_lite_to_cbor2(v: object) -> None:
    data = cbor.dumps(v)
    assert _same(cbor2.loads(data), v)
    assert data == cbor2.dumps(v, canonical=True)


@settings(max_examples=133 * SCALE, deadline=None)
@given(values, st.booleans())
def test_cbor2_to_ether_lite(v: object, canonical: bool) -> None:
    assert _same(cbor.loads(cbor2.dumps(v, canonical=canonical)), v)


@settings(max_examples=100 * SCALE, deadline=None)
@given(values)
def test_cbor2_indefinite_lengths_decode(v: object) -> None:
    """cbor2 streams (indefinite-length) lists and maps when asked; ether_lite decodes them."""
    if isinstance(v, list):
        data = b"\x9f" + b"".join(cbor2.dumps(x) for x in v) + b"\xff"
        assert _same(cbor.loads(data), v)
    elif isinstance(v, bytes):
        data = b"\x5f" + b"".join(cbor2.dumps(v[i : i + 3]) for i in range(0, len(v), 3)) + b"\xff"
        assert cbor.loads(data) == v


@settings(max_examples=166 * SCALE, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_raise_only_cbor_decode_error(data: bytes) -> None:
    with contextlib.suppress(cbor.CBORDecodeError):
        cbor.loads(data)


@settings(max_examples=100 * SCALE, deadline=None)
@given(values, st.data())
def test_mutated_cbor_raises_only_cbor_decode_error(v: object, data: st.DataObject) -> None:
    raw = bytearray(cbor.dumps(v))
    for _ in range(data.draw(st.integers(1, 3))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    with contextlib.suppress(cbor.CBORDecodeError):
        cbor.loads(bytes(raw[:cut]))


@settings(max_examples=100 * SCALE, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=300), max_size=8), st.data())
def test_frame_stream_random_and_mutated(bodies: list[bytes], data: st.DataObject) -> None:
    stream = bytearray()
    for b in bodies:
        stream += framing.encode_frame(b[: framing.MAX_BODY])
    if stream and data.draw(st.booleans()):
        for _ in range(data.draw(st.integers(1, 5))):
            stream[data.draw(st.integers(0, len(stream) - 1))] = data.draw(st.integers(0, 255))
    stream += data.draw(st.binary(max_size=100))
    dec = framing.FrameDecoder()
    out = []
    pos = 0
    while pos < len(stream):  # arbitrary chunking
        k = data.draw(st.integers(1, 64))
        out += dec.frames(bytes(stream[pos : pos + k]))
        pos += k
    c = dec.counters()
    assert len(out) == c["frames_ok"]
    for body in out:
        assert len(body) <= framing.MAX_BODY
    with contextlib.suppress(framing.FrameError):
        framing.decode_frame(bytes(stream))


@settings(max_examples=100 * SCALE, deadline=None)
@given(values)
def test_protocol_check_raises_only_protocol_error(v: object) -> None:
    for msg in (v, [2, v], [protocol.DELIVER, 1, 2, v], [protocol.DESCRIBE, 0, "x", 0, v, None]):
        try:
            protocol.check(msg)
        except protocol.ProtocolError as e:
            assert 1 <= e.code <= 7


def test_clean_frames_survive_any_chunking() -> None:
    bodies = [bytes([i % 255 + 1]) * (i % 256 + 1) for i in range(300)]
    stream = b"".join(framing.encode_frame(b) for b in bodies)
    dec = framing.FrameDecoder()
    assert dec.frames(stream) == bodies
    assert dec.counters() == {"frames_ok": 300, "crc_errors": 0, "cobs_errors": 0, "oversize": 0}
