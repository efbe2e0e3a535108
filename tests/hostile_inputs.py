"""Hostile fabric input for the property tests: odd CBOR values, envelopes built from them, raw bodies.

``values()`` reaches what cbor2 can decode and the envelope's users may choke on: non-finite floats, integers
beyond 64 bits and beyond Python's digit limit for ``str``, tags, ``undefined``, simple values, maps with
non-text keys, and cyclic values (CBOR value sharing, tags 28/29). ``envelope_bodies()`` puts such values into
the envelope's header and payload, sometimes in the exact byte layout of the fabric's fast encoders (so the
recorder's cut-out payload path sees them too). ``Target`` is an instance class for the runtime tests.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import cbor2
from hypothesis import strategies as st

from ether_medium import ether_cleanup, ether_get, ether_sub
from ether_medium.fabric.envelope import _uint, source_prefix

HEADER_KEYS = ("d", "s", "q", "t", "dt", "du", "dq", "r", "i", "e")

# raw CBOR items cbor2.dumps cannot make from Python values: cyclic (value sharing), indefinite lengths,
# a bignum beyond the digit limit, unassigned simple values, tags with odd contents
CYCLIC_LIST = b"\xd8\x1c\x81\xd8\x1d\x00"  # shareable [ <itself> ]
CYCLIC_MAP = b"\xd8\x1c\xa1\x61x\xd8\x1d\x00"  # shareable {"x": <itself>}
RAW_ITEMS = (
    CYCLIC_LIST,
    CYCLIC_MAP,
    b"\x9f\x01\x02\xff",  # indefinite-length array
    b"\xbf\x61a\x01\xff",  # indefinite-length map
    b"\xc2\x59\x08\x00" + b"\xff" * 2048,  # bignum of 2048 bytes (about 4930 decimal digits)
    b"\xf7",  # undefined
    b"\xf0",  # simple value 16
    b"\xfa\x7f\xc0\x00\x00",  # float32 NaN
    b"\xf9\x7c\x00",  # float16 Infinity
    b"\xd8\x1d\x05",  # a shared reference to nothing
    b"\xc1\xfb\x7f\xf0\x00\x00\x00\x00\x00\x00",  # epoch time Infinity
    b"\xc0\x63abc",  # date/time string that is not one
)

atoms = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, 2**64, -(2**64) - 1, 10**400, -(10**30)]),
    st.floats(),
    st.sampled_from([math.inf, -math.inf, math.nan, 1e308, 5e-324]),
    st.text(max_size=12),
    st.binary(max_size=12),
    st.builds(cbor2.CBORTag, st.integers(min_value=6, max_value=2**64 - 1).filter(lambda t: t not in (
        25, 28, 29, 256)), st.integers(min_value=0, max_value=3)),
    st.just(cbor2.undefined),
)
keys = st.one_of(st.text(max_size=8), st.integers(), st.none(), st.floats(allow_nan=False),
                 st.binary(max_size=4))


def values() -> st.SearchStrategy[Any]:
    return st.recursive(
        atoms,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
        max_leaves=8,
    )


def _encode(value: Any) -> bytes:
    return cbor2.dumps(value)


@st.composite
def envelope_bodies(draw: st.DrawFn) -> bytes:
    """One body: a map of (mostly) envelope keys with odd values, an envelope whose payload is a raw item
    in the fast encoders' layout, a valid envelope, arbitrary CBOR, or arbitrary bytes."""
    kind = draw(st.integers(0, 5))
    if kind == 0:  # header keys with any values
        chosen = draw(st.lists(st.sampled_from(HEADER_KEYS), unique=True, min_size=3))
        body: dict[Any, Any] = {k: draw(values()) for k in chosen}
        if draw(st.booleans()):
            body["d"] = draw(st.dictionaries(keys, values(), max_size=4))
        return _encode(body)
    if kind == 1:  # a valid header with one odd header value
        body = {"d": draw(st.dictionaries(st.text(max_size=6), values(), max_size=3)), "s": "gen", "q": 1,
                "t": 1.0}
        body[draw(st.sampled_from(HEADER_KEYS))] = draw(values())
        return _encode(body)
    if kind == 2:  # the layout of encode_plain, with a raw item inside the payload map
        item = draw(st.sampled_from(RAW_ITEMS))
        payload = b"\xa1\x61v" + item
        seq = draw(st.integers(min_value=0, max_value=2**64 - 1))
        t = draw(st.floats(allow_nan=False, allow_infinity=False))
        tail = source_prefix("gen") + _uint(seq) + b"\x61t" + struct.pack(">Bd", 0xFB, t)
        return b"\xa4\x61d" + payload + tail
    if kind == 3:  # a raw item in a header field
        key = draw(st.sampled_from(HEADER_KEYS))
        rest = {"d": {}, "s": "gen", "q": 1, "t": 1.0}
        rest.pop(key, None)
        head = bytes([0xA0 + len(rest) + 1])
        return head + cbor2.dumps(key) + draw(st.sampled_from(RAW_ITEMS)) + b"".join(
            cbor2.dumps(k) + cbor2.dumps(v) for k, v in rest.items())
    if kind == 4:
        return _encode(draw(values()))
    return draw(st.binary(max_size=40))


def valid_body(data: dict[str, Any], seq: int = 0) -> bytes:
    return cbor2.dumps({"d": data, "s": "gen", "q": seq, "t": 1.0})


class Target:
    """An instance for the runtime tests: remembers what it received and whether cleanup ran."""

    def __init__(self) -> None:
        self.got: list[Any] = []
        self.cleaned = 0

    @ether_sub(topic="data")
    def take(self, v: Any = None) -> None:
        self.got.append(v)

    @ether_get(topic="ask")
    def ask(self, v: Any = None) -> dict[str, Any]:
        return {"v": v}

    @ether_cleanup()
    def cleanup(self) -> None:
        self.cleaned += 1
