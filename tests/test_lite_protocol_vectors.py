"""tests/vectors/protocol.json: the frames of PROTOCOL.md as hex, with the message each one means.

The vectors are defined here (VECTORS, BAD) and written with ``python tests/test_lite_protocol_vectors.py``;
a test checks the file is up to date. The host side reads the same file with cbor2; the device side
(ether_lite) decodes and encodes every one byte for byte (tests/micropython/lite_checks.py, run on
CPython and under MicroPython).
"""

import json
import struct
from pathlib import Path

import cbor2

from ether_lite import framing
from ether_lite import protocol as p

PATH = Path(__file__).resolve().parent / "vectors" / "protocol.json"


def f32(x: float) -> float:
    return float(struct.unpack(">f", struct.pack(">f", x))[0])


VECTORS = [
    (
        "HELLO from a Pico",
        p.hello(
            "e6614103e7452d2f",
            123456789,
            "ether_lite 0.1.0; CircuitPython 9.2.1; Raspberry Pi Pico",
            2,
            2**29,
        ),
    ),
    ("HELLO from CPython", p.hello("sim-thermometer", 7, "ether_lite 0.1.0; CPython 3.11", 0, 2**30)),
    (
        "DESCRIBE publisher float field",
        p.describe(0, "Thermometer.read", p.DEVICE_PUBLISHES, [["celsius", "f"]], 1.0),
    ),
    (
        "DESCRIBE subscriber bool field",
        p.describe(1, "Thermometer.set_led", p.DEVICE_SUBSCRIBES, [["on", "b"]], None),
    ),
    (
        "DESCRIBE publisher all types",
        p.describe(
            31,
            "Rig.status",
            p.DEVICE_PUBLISHES,
            [["t", "f"], ["n", "i"], ["ok", "b"], ["msg", "s"], ["raw", "y"], ["x", "a"]],
            0.25,
        ),
    ),
    ("DESCRIBE subscriber fields unknown", p.describe(2, "Board.blink", p.DEVICE_SUBSCRIBES, None, None)),
    (
        "DESCRIBE subscriber fields with defaults",
        p.describe(
            3, "Heater.set_power", p.DEVICE_SUBSCRIBES, [["on", "b"], ["power", "a", None], ["n", "i", 3]]
        ),
    ),
    ("PUB one float, half precision", p.pub(0, 7, 123456, [21.5])),
    ("PUB one float, single precision (16 B on the wire)", p.pub(0, 8, 123556, [f32(21.437)])),
    ("PUB one float, double precision", p.pub(0, 9, 123656, [21.437])),
    ("PUB seq and time wrap", p.pub(5, 511, 2**30 - 1, [-3])),
    (
        "PUB every type",
        p.pub(31, 300, 65535, [0.1, -(2**40), True, "héllo", b"\x00\x01\xff", [1, {"a": None}]]),
    ),
    (
        "PUB float specials",
        p.pub(3, 1, 0, [float("inf"), float("-inf"), -0.0, 65504.0, 5.960464477539063e-08]),
    ),
    (
        "DESCRIBE publisher array fields (int16 and float32, RFC 8746 typed arrays)",
        p.describe(4, "Scope.trace", p.DEVICE_PUBLISHES, [["codes", "[i2"], ["volts", "[f4"]], 0.1),
    ),
    (
        "DESCRIBE subscriber array field with a default",
        p.describe(5, "Scope.set_levels", p.DEVICE_SUBSCRIBES, [["levels", "[u1"], ["gain", "[f8", None]]),
    ),
    (
        "PUB arrays: int16 [1, -2, 300] and float32 [1.5] as little-endian typed arrays",
        p.pub(4, 2, 1000, [cbor2.CBORTag(77, struct.pack("<3h", 1, -2, 300)),
                           cbor2.CBORTag(85, struct.pack("<f", 1.5))]),
    ),
    ("PUB empty uint8 array", p.pub(4, 3, 1001, [cbor2.CBORTag(64, b""), cbor2.CBORTag(85, b"")])),
    (
        "DELIVER arrays: uint8 [0, 128, 255], float64 [-0.5]",
        p.deliver(5, 9, [cbor2.CBORTag(64, bytes([0, 128, 255])),
                         cbor2.CBORTag(86, struct.pack("<d", -0.5))]),
    ),
    ("DELIVER bool with ACK", p.deliver(1, 1, [True])),
    ("DELIVER fire and forget", p.deliver(1, 0, [False])),
    ("DELIVER keyword map (fields unknown)", p.deliver(2, 65535, [{"n": 3, "period_s": 0.5}])),
    ("ACK ok", p.ack(1)),
    ("ACK handler raised", p.ack(2, p.ACK_HANDLER_RAISED, "ValueError: bad pin")),
    ("PING", p.ping(42)),
    ("PONG", p.pong(42, 536870911)),
    ("LOG warning", p.log(p.WARNING, "sensor not found, retrying")),
    (
        "ERROR version mismatch",
        p.error(p.ERR_VERSION, "protocol version 2 received; this side speaks version 1", (2, 1)),
    ),
    ("ERROR unknown topic", p.error(p.ERR_UNKNOWN_TOPIC, "no endpoint with topic id 9", (9,))),
    ("QUERY", p.query()),
    ("QUERY for some topic ids", p.query([3, 7, 31])),
]


def _body_of(msg: object) -> bytes:
    return bytes(cbor2.dumps(msg, canonical=True))


def _frame_hex(body: bytes) -> str:
    return framing.encode_frame(body).hex()


def _with_crc(raw: bytes) -> str:
    """A frame of arbitrary body bytes (valid COBS and CRC), to test layers above framing."""
    return _frame_hex(raw)


def _bad() -> list[dict[str, object]]:
    pub = framing.encode_frame(_body_of(p.pub(0, 7, 123456, [21.5])))
    flipped = bytearray(pub)
    flipped[4] ^= 0x01
    truncated_block = bytes([0x05, 0x83, 0x02]) + b"\x00"
    oversize = framing.encode_frame(b"\x01" * 256)[:-1] + b"\x01" * 8 + b"\x00"
    return [
        {
            "name": "CRC mismatch (one bit flipped)",
            "hex": bytes(flipped).hex(),
            "layer": "frame",
            "counter": "crc_errors",
        },
        {
            "name": "COBS block longer than the frame",
            "hex": truncated_block.hex(),
            "layer": "frame",
            "counter": "cobs_errors",
        },
        {"name": "shorter than body + CRC", "hex": "020100", "layer": "frame", "counter": "cobs_errors"},
        {"name": "body over 256 bytes", "hex": oversize.hex(), "layer": "frame", "counter": "oversize"},
        {
            "name": "body is not well-formed CBOR",
            "hex": _with_crc(bytes([0x82, 0x02])),
            "layer": "cbor",
            "code": p.ERR_MALFORMED,
        },
        {
            "name": "bytes after the CBOR item",
            "hex": _with_crc(_body_of([9]) + b"\x00"),
            "layer": "cbor",
            "code": p.ERR_MALFORMED,
        },
        {
            "name": "body is not an array",
            "hex": _with_crc(_body_of({"h": 2})),
            "layer": "protocol",
            "code": p.ERR_MALFORMED,
        },
        {"name": "empty array", "hex": _with_crc(_body_of([])), "layer": "protocol", "code": p.ERR_MALFORMED},
        {
            "name": "protocol version 2 PING",
            "hex": _with_crc(_body_of([p.header(p.PING, 2), 1])),
            "layer": "protocol",
            "code": p.ERR_VERSION,
            "detail": [2, 1],
        },
        {
            "name": "reserved kind 12",
            "hex": _with_crc(_body_of([12])),
            "layer": "protocol",
            "code": p.ERR_MALFORMED,
        },
        {
            "name": "PING without id",
            "hex": _with_crc(_body_of([p.PING])),
            "layer": "protocol",
            "code": p.ERR_MALFORMED,
        },
        {
            "name": "DELIVER topic id out of range",
            "hex": _with_crc(_body_of([p.DELIVER, 32, 1, True])),
            "layer": "protocol",
            "code": p.ERR_MALFORMED,
        },
        {
            "name": "QUERY topic id out of range",
            "hex": _with_crc(_body_of([p.QUERY, 2, 32])),
            "layer": "protocol",
            "code": p.ERR_MALFORMED,
        },
        {
            "name": "QUERY topic id not an int",
            "hex": _with_crc(_body_of([p.QUERY, "read"])),
            "layer": "protocol",
            "code": p.ERR_MALFORMED,
        },
        {
            "name": "DESCRIBE with an unknown field type",
            "hex": _with_crc(_body_of(p.describe(0, "A.b", 0, [["x", "q"]]))),
            "layer": "protocol",
            "code": p.ERR_MALFORMED,
        },
        {
            "name": "DESCRIBE with an array type of no typed array (float16)",
            "hex": _with_crc(_body_of(p.describe(0, "A.b", 0, [["x", "[f2"]]))),
            "layer": "protocol",
            "code": p.ERR_MALFORMED,
        },
        {
            "name": "DESCRIBE with a field of four elements",
            "hex": _with_crc(_body_of(p.describe(0, "A.b", 1, [["x", "i", 1, 2]]))),
            "layer": "protocol",
            "code": p.ERR_MALFORMED,
        },
    ]


def _json_value(v: object) -> object:
    """JSON cannot hold bytes, tags or non-finite floats: bytes -> {"bytes": hex}, a tag -> {"tag": n,
    "value": its value}, inf/nan -> {"float": "inf"}."""
    if isinstance(v, bytes):
        return {"bytes": v.hex()}
    if isinstance(v, cbor2.CBORTag):
        return {"tag": v.tag, "value": _json_value(v.value)}
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return {"float": repr(v)}
    if isinstance(v, float) and v == 0.0 and str(v).startswith("-"):
        return {"float": "-0.0"}
    if isinstance(v, list):
        return [_json_value(x) for x in v]
    if isinstance(v, dict):
        return {k: _json_value(x) for k, x in v.items()}
    return v


def build() -> dict[str, object]:
    frames = []
    for name, msg in VECTORS:
        body = _body_of(msg)
        frames.append(
            {
                "name": name,
                "kind": p.kind_name(p.kind_of(msg[0])),
                "hex": _frame_hex(body),
                "body_hex": body.hex(),
                "message": _json_value(msg),
            }
        )
        if msg[0] == p.PUB:
            topic_id, seq, ticks16 = p.unpack_ref(msg[1])
            frames[-1]["ref"] = {"topic_id": topic_id, "seq": seq, "ticks16": ticks16}
    return {
        "protocol_version": p.VERSION,
        "about": (
            "Frames of PROTOCOL.md. hex: the whole frame as sent on a byte stream (COBS(body+CRC16) + 00); "
            'body_hex: the CBOR body; message: the decoded array, with bytes as {"bytes": hex}, tags as '
            '{"tag": n, "value": v} and non-finite or negative-zero floats as {"float": repr}; '
            "ref (PUB only): the ref word unpacked. "
            "bad_frames: frames a receiver must drop; "
            "layer frame: the decoder counts `counter`; "
            "layer cbor/protocol: the receiver answers ERROR `code`."
        ),
        "frames": frames,
        "bad_frames": _bad(),
    }


def render() -> str:
    return json.dumps(build(), indent=1, ensure_ascii=False) + "\n"


def test_vectors_file_is_up_to_date() -> None:
    assert PATH.read_text(encoding="utf-8") == render(), (
        "regenerate: .venv/bin/python tests/test_lite_protocol_vectors.py"
    )


def test_host_decodes_every_vector_with_cbor2() -> None:
    data = json.loads(PATH.read_text(encoding="utf-8"))
    for v in data["frames"]:
        if "ref" in v:
            r = v["ref"]
            assert p.pack_ref(r["topic_id"], r["seq"], r["ticks16"]) == v["message"][1], v["name"]
        body = framing.decode_frame(bytes.fromhex(v["hex"]))
        assert body.hex() == v["body_hex"], v["name"]
        msg = cbor2.loads(body)
        assert _json_value(msg) == v["message"], v["name"]
        assert p.kind_name(p.check(msg)) == v["kind"], v["name"]
        assert bytes(cbor2.dumps(msg, canonical=True)) == body, v["name"]


def test_codecs_cross_encode_every_vector() -> None:
    """What one codec decodes, the other encodes back to the same bytes."""
    from ether_lite import cbor

    def to_lite(v: object) -> object:  # cbor2's tags as ether_lite.cbor's
        if isinstance(v, cbor2.CBORTag):
            return cbor.CBORTag(v.tag, to_lite(v.value))
        return [to_lite(x) for x in v] if isinstance(v, list) else v

    def to_cbor2(v: object) -> object:
        if isinstance(v, cbor.CBORTag):
            return cbor2.CBORTag(v.tag, to_cbor2(v.value))
        return [to_cbor2(x) for x in v] if isinstance(v, list) else v

    data = json.loads(PATH.read_text(encoding="utf-8"))
    for v in data["frames"]:
        body = bytes.fromhex(v["body_hex"])
        assert cbor.dumps(to_lite(cbor2.loads(body))) == body, v["name"]
        assert bytes(cbor2.dumps(to_cbor2(cbor.loads(body)), canonical=True)) == body, v["name"]


def test_device_codec_writes_and_reads_the_array_vectors() -> None:
    """A board publishes array.array values as the PUB vectors' typed arrays, and reads the DELIVER vector's
    typed arrays as array.array (ether_lite.typed, ether_lite.cbor_decoder)."""
    import array

    from ether_lite import cbor_core, cbor_decoder

    data = {v["name"]: v for v in json.loads(PATH.read_text(encoding="utf-8"))["frames"]}
    pub = data["PUB arrays: int16 [1, -2, 300] and float32 [1.5] as little-endian typed arrays"]
    enc = cbor_core.Encoder(bytearray(256))
    enc.encode([p.PUB, pub["message"][1], array.array("h", [1, -2, 300]), array.array("f", [1.5])])
    assert bytes(enc.buf[: enc.n]).hex() == pub["body_hex"]
    deliver = data["DELIVER arrays: uint8 [0, 128, 255], float64 [-0.5]"]
    msg = cbor_decoder.loads(bytes.fromhex(deliver["body_hex"]))
    assert msg[3:] == [array.array("B", [0, 128, 255]), array.array("d", [-0.5])]
    assert [a.typecode for a in msg[3:]] == ["B", "d"]


def test_single_float_reading_is_16_bytes_on_the_wire() -> None:
    data = json.loads(PATH.read_text(encoding="utf-8"))
    (v,) = [v for v in data["frames"] if v["name"].startswith("PUB one float, single")]
    assert len(bytes.fromhex(v["hex"])) == 16


def test_host_rejects_every_bad_frame_as_documented() -> None:
    data = json.loads(PATH.read_text(encoding="utf-8"))
    for v in data["bad_frames"]:
        dec = framing.FrameDecoder()
        bodies = dec.frames(bytes.fromhex(v["hex"]))
        if v["layer"] == "frame":
            assert bodies == [] and dec.counters()[v["counter"]] == 1, v["name"]
            continue
        assert len(bodies) == 1, v["name"]
        try:
            msg = cbor2.loads(bodies[0])
        except cbor2.CBORDecodeError:
            assert v["layer"] == "cbor", v["name"]
            continue
        if v["layer"] == "cbor":  # cbor2.loads ignores trailing bytes; the protocol does not
            assert len(bytes(cbor2.dumps(msg, canonical=True))) < len(bodies[0]), v["name"]
            continue
        try:
            p.check(msg)
        except p.ProtocolError as e:
            assert e.code == v["code"], v["name"]
            assert list(e.detail) == v.get("detail", list(e.detail)), v["name"]
        else:
            raise AssertionError("accepted: " + v["name"])


if __name__ == "__main__":
    PATH.write_text(render(), encoding="utf-8")
    print("wrote", PATH)
