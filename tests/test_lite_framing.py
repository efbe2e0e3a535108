"""The host's fast framing (ether_lite/framing.py: COBS by slices, CRC by binascii) against the byte-by-byte
code a board runs (ether_lite/framing_core.py): the same frames, bodies and counters on every protocol
vector and on random, mutated and arbitrarily chunked streams."""

import binascii
import json
import os
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from ether_lite import framing, framing_core

SCALE = 10 if os.environ.get("ETHER_SLOW") else 1
VECTORS = json.loads((Path(__file__).resolve().parent / "vectors" / "protocol.json").read_text())


def _core_frame(body: bytes) -> bytes:
    out = bytearray(len(body) + (len(body) + 2) // 254 + 5)  # bodies over MAX_BODY too (oversize frames)
    out[1 : len(body) + 1] = body
    n = framing_core.encode_in_place(out, len(body))
    return bytes(out[:n])


def _core_frames(chunks: list[bytes]) -> tuple[list[bytes], dict[str, int]]:
    """What framing_core's streaming decoder makes of ``chunks``, fed byte by byte as a board does."""
    dec = framing_core.FrameDecoder()
    out = []
    for chunk in chunks:
        pos = 0
        while pos < len(chunk):
            pos = dec.feed(chunk, pos, len(chunk))
            if dec.length >= 0:
                out.append(bytes(dec.body[: dec.length]))
    counters = {k: getattr(dec, k) for k in ("frames_ok", "crc_errors", "cobs_errors", "oversize")}
    return out, counters


def _fast_frames(chunks: list[bytes]) -> tuple[list[bytes], dict[str, int]]:
    dec = framing.FrameDecoder()
    out = []
    for chunk in chunks:
        out += dec.frames(chunk)
    return out, dec.counters()


def _frame_hexes() -> list[str]:
    found: list[str] = []

    def walk(v: object) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                if k == "hex" and isinstance(x, str):
                    found.append(x)
                else:
                    walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(VECTORS)
    return found


def test_crc_hqx_is_the_protocols_crc16() -> None:
    assert binascii.crc_hqx(b"123456789", 0xFFFF) == framing_core.crc16(b"123456789") == 0x29B1
    for h in _frame_hexes():
        raw = bytes.fromhex(h)
        assert binascii.crc_hqx(raw, 0xFFFF) == framing_core.crc16(raw)


def test_every_vector_decodes_the_same() -> None:
    hexes = _frame_hexes()
    assert len(hexes) > 10
    for h in hexes:
        frame = bytes.fromhex(h)
        assert _fast_frames([frame]) == _core_frames([frame]), h
        body = _core_frames([frame])[0]
        if body:
            assert framing.encode_frame(body[0]) == _core_frame(body[0]) == frame


@settings(max_examples=300 * SCALE, deadline=None)
@given(st.binary(max_size=framing.MAX_BODY))
@example(b"\x01" * 254)
@example(b"\x01" * 253)
@example(b"\x01" * 252)
@example(b"\x01" * 254 + b"\x00")
@example(b"\x00" * 256)
@example(b"")
def test_encode_frame_matches_the_core(body: bytes) -> None:
    assert framing.encode_frame(body) == _core_frame(body)
    assert framing.encode_frame(bytearray(body)) == _core_frame(body)
    # what a Node on CPython frames with (ether_lite.startup): the core's bytes, in its buffer
    buf = bytearray(framing.MAX_FRAME)
    buf[1 : len(body) + 1] = body
    n = framing.encode_in_place(buf, len(body))
    assert bytes(buf[:n]) == _core_frame(body) and len(buf) == framing.MAX_FRAME


def test_encode_frame_refuses_an_oversize_body() -> None:
    try:
        framing.encode_frame(b"x" * (framing.MAX_BODY + 1))
    except framing.FrameError as exc:
        assert "257 bytes" in str(exc)
    else:
        raise AssertionError("no FrameError")


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    """Frames (some oversize, empty or truncated), mutated bytes and garbage, back to back."""
    stream = bytearray()
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.integers(0, 5))
        if kind == 0:
            stream += draw(st.binary(max_size=40))  # garbage, zeros included
        elif kind == 1:
            stream += b"\x00" * draw(st.integers(1, 3))
        elif kind == 2:  # oversize: a valid-looking frame of a body over MAX_BODY
            body = draw(st.binary(min_size=framing.MAX_BODY + 1, max_size=framing.MAX_BODY + 300))
            stream += _core_frame(body)
        else:
            frame = bytearray(_core_frame(draw(st.binary(max_size=framing.MAX_BODY))))
            if kind == 3:
                frame = frame[: draw(st.integers(0, len(frame)))]
            stream += frame
    if stream and draw(st.booleans()):
        for _ in range(draw(st.integers(1, 6))):
            stream[draw(st.integers(0, len(stream) - 1))] = draw(st.integers(0, 255))
    return bytes(stream)


@settings(max_examples=400 * SCALE, deadline=None)
@given(streams(), st.data())
def test_fast_decoder_matches_the_core_on_any_stream_and_chunking(stream: bytes, data: st.DataObject) -> None:
    chunks = []
    pos = 0
    while pos < len(stream):
        k = data.draw(st.integers(1, 300))
        chunks.append(stream[pos : pos + k])
        pos += k
    assert _fast_frames(chunks) == _core_frames(chunks)
    assert _fast_frames([stream]) == _core_frames([stream])
    # a bytearray or memoryview chunk decodes the same
    dec = framing.FrameDecoder()
    mixed = [dec.frames(memoryview(bytearray(c))) for c in chunks]
    assert [b for bodies in mixed for b in bodies] == _core_frames(chunks)[0]


def test_a_frame_split_over_feeds_and_its_counters() -> None:
    good = _core_frame(b"\x10\x20\x00\x30")
    bad = bytearray(_core_frame(b"abc"))
    bad[1] ^= 0xFF
    stream = good + bytes(bad) + good + b"\x05\x01" + b"\x00" + good
    for cut in range(len(stream) + 1):
        chunks = [stream[:cut], stream[cut:]]
        assert _fast_frames(chunks) == _core_frames(chunks)
    assert _fast_frames([stream])[1] == {"frames_ok": 3, "crc_errors": 1, "cobs_errors": 1, "oversize": 0}


def test_a_frame_begun_by_frames_and_ended_by_feed() -> None:
    """frames() keeps the start of an unfinished frame as bytes; a feed() after it still sees it first."""
    frame = _core_frame(b"\x10\x20\x00\x30")
    for cut in range(1, len(frame)):
        dec = framing.FrameDecoder()
        assert dec.frames(frame[:cut]) == []
        pos, bodies = 0, []
        rest = frame[cut:]
        while pos < len(rest):
            pos = dec.feed(rest, pos, len(rest))
            if dec.length >= 0:
                bodies.append(bytes(dec.body[: dec.length]))
        assert bodies == [b"\x10\x20\x00\x30"] and dec.frames_ok == 1
        dec.frames(frame[:cut])
        dec.reset()  # a reset forgets the kept start too
        assert dec.frames(frame[cut:]) == [] and dec.frames_ok == 1
