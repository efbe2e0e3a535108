"""The publishers' fast envelope encoder writes exactly what the reference encoder writes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ether_medium.errors import EnvelopeError
from ether_medium.fabric.envelope import Envelope, decode, encode, encode_plain, source_prefix

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)


@given(
    data=st.dictionaries(st.text(max_size=10), values, max_size=5),
    source=st.text(max_size=20),
    seq=st.integers(min_value=0, max_value=2**64 - 1),
    t=st.floats(allow_nan=False, allow_infinity=False),
)  # host_time is finite
def test_fast_encoder_matches_reference(data: dict[str, object], source: str, seq: int, t: float) -> None:
    reference = encode(Envelope("topic", data, source, seq, t))[1]
    assert encode_plain(data, source_prefix(source), seq, t) == reference
    env = decode([b"topic", reference])
    assert (env.data, env.source, env.seq) == (data, source, seq)
    assert env.host_time == t


def test_malformed_header_is_an_envelope_error() -> None:
    import cbor2

    with pytest.raises(EnvelopeError, match="malformed header"):
        decode([b"x", cbor2.dumps({"d": {}, "s": "a", "q": "not an int", "t": 0.0})])


@given(
    data=st.dictionaries(st.text(max_size=10), values, max_size=5),
    source=st.text(max_size=20),
    seq=st.integers(min_value=0, max_value=2**64 - 1),
    t=st.floats(allow_nan=False, allow_infinity=False),
    dt=st.floats(allow_nan=False, allow_infinity=False),
    du=st.floats(min_value=0, allow_infinity=False),
    dq=st.integers(min_value=0, max_value=2**64 - 1),
)
def test_the_recorders_split_gives_back_the_payload_the_encoders_wrote(
    data: dict[str, object], source: str, seq: int, t: float, dt: float, du: float, dq: int
) -> None:
    """Round trip: what encode_plain / encode_device write, plain_payload / device_payload cut out again as
    the payload's own CBOR bytes; a body in any other layout is not cut (None)."""
    import cbor2

    from ether_medium.fabric.envelope import device_payload, encode_device, plain_payload

    prefix = source_prefix(source)
    plain = encode_plain(data, prefix, seq, t)
    assert plain_payload(plain, prefix, seq, t) == cbor2.dumps(data)
    device = encode_device(data, prefix, seq, t, dt, du, dq)
    assert device_payload(device, prefix, seq, t, dt, du, dq) == cbor2.dumps(data)
    assert plain_payload(device, prefix, seq, t) is None
    assert device_payload(plain, prefix, seq, t, dt, du, dq) is None
    # the same fields in another order are decoded alike but never cut
    reordered = cbor2.dumps({"s": source, "d": data, "q": seq, "t": t})
    assert plain_payload(reordered, prefix, seq, t) is None
