"""The recorder's rows: the payload cut out of a received body is exactly the payload's CBOR, whatever encoded
the body (the fabric's own encoders, or another key order, longer integer headers, a float32 time...)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ether_medium.fabric.envelope import Envelope, encode, encode_device, encode_plain, source_prefix
from ether_medium.recorder.rows import row_parser

scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
           | st.text(max_size=30) | st.binary(max_size=30))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
payloads = st.dictionaries(st.text(max_size=12), values, max_size=6)
seqs = st.integers(0, 2**64 - 1)
times = st.floats(allow_nan=False, allow_infinity=False)  # a host time is finite (else malformed)
sources = st.text(min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(payloads, sources, seqs, times)
def test_plain_bodies(data: dict[str, Any], source: str, seq: int, t: float) -> None:
    row = row_parser()
    body = encode_plain(data, source_prefix(source), seq, t)
    assert row("topic", body) == ("topic", source, seq, t, None, None, None, cbor2.dumps(data))


@settings(max_examples=100, deadline=None)
@given(payloads, sources, seqs, times, times, times, seqs)
def test_device_bodies(data: dict[str, Any], source: str, seq: int, t: float, dt: float, du: float,
                       dq: int) -> None:
    body = encode_device(data, source_prefix(source), seq, t, dt, du, dq)
    assert row_parser()("board.temp", body) == ("board.temp", source, seq, t, dt, du, dq, cbor2.dumps(data))


@settings(max_examples=100, deadline=None)
@given(payloads, sources, st.integers(0, 2**32), times, st.sampled_from(["order", "q64", "f32", "s", "req"]))
def test_other_encodings_of_the_same_message(data: dict[str, Any], source: str, seq: int, t: float,
                                             how: str) -> None:
    d = b"\x61d" + cbor2.dumps(data)
    s = b"\x61s" + cbor2.dumps(source)
    q = b"\x61q" + cbor2.dumps(seq)
    tt = b"\x61t" + struct.pack(">Bd", 0xFB, t)
    if how == "order":
        body = b"\xa4" + s + d + q + tt
    elif how == "q64":  # the sequence number with an 8-byte header whatever its size
        body = b"\xa4" + d + s + b"\x61q\x1b" + seq.to_bytes(8, "big") + tt
    elif how == "f32" and abs(t) < 3e38:  # the time as a float32
        t = struct.unpack(">f", struct.pack(">f", t))[0]
        body = b"\xa4" + d + s + q + b"\x61t" + struct.pack(">Bf", 0xFA, t)
    elif how == "s":  # the source's length in a longer header
        raw = source.encode()
        body = b"\xa4" + d + b"\x61s\x7a" + len(raw).to_bytes(4, "big") + raw + q + tt
    elif how == "req":  # a request: reply_to and request_id after the usual fields
        body = encode(Envelope("topic", data, source, seq, t, reply_to="topic.reply", request_id=7))[1]
    else:
        body = b"\xa4" + d + s + q + tt
    assert row_parser()("topic", body) == ("topic", source, seq, t, None, None, None, cbor2.dumps(data))


def test_a_database_of_a_newer_layout_is_refused_with_what_to_do(tmp_path: Path) -> None:
    import sqlite3

    from ether_medium.errors import DatabaseError
    from ether_medium.recorder.schema import SCHEMA_VERSION
    from ether_medium.recorder.store import Store

    path = tmp_path / "ether.sqlite"
    Store(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(DatabaseError, match=r"newer Ether.*upgrade ether-medium"):
        Store(path)
