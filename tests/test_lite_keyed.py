"""tests/vectors/keyed.json: the keyed-link vectors of PROTOCOL.md ("Keyed links"), and ether_lite.keyed.

The vectors are defined here and written with ``.venv/bin/python tests/test_lite_keyed.py``; a test checks
the file is up to date. ether_lite.keyed's HMAC is checked against the standard library's ``hmac`` here,
and against the vectors under MicroPython (tests/micropython/lite_checks.py, check_keyed_vectors).
"""

import hashlib
import hmac
import json
import struct
from pathlib import Path

import cbor2
import pytest

from ether_lite import framing
from ether_lite import protocol as p
from ether_lite.keyed import DEVICE, HOST, PROOF, TRAILER, Key

PATH = Path(__file__).resolve().parent / "vectors" / "keyed.json"
KEY = "correct horse battery staple"
NONCE = bytes(range(0xA0, 0xA8))


def _sealed(msg: object, direction: bytes, ctr: int) -> dict[str, object]:
    body = bytes(cbor2.dumps(msg, canonical=True))
    buf = bytearray(len(body) + TRAILER)
    buf[: len(body)] = body
    n = Key(KEY).seal(buf, 0, len(body), direction, ctr, NONCE)
    return {
        "direction": direction.decode(),
        "ctr": ctr,
        "message": msg,
        "body_hex": body.hex(),
        "hex": framing.encode_frame(bytes(buf[:n])).hex(),
    }


def build() -> dict[str, object]:
    return {
        "about": (
            "Keyed links of PROTOCOL.md. key: UTF-8 text; nonce: the host's QUERY nonce; proof: the HELLO's "
            "7th element; frames: hex is the whole frame COBS(body + ctr + mac + CRC16) + 00, the MAC over "
            "the nonce alone"
        ),
        "key": KEY,
        "nonce_hex": NONCE.hex(),
        "query_hex": framing.encode_frame(bytes(cbor2.dumps([p.QUERY, NONCE]))).hex(),
        "hello": {
            "device_id": "e6614103e7452d2f",
            "boot_id": 123456789,
            "proof_hex": Key(KEY).proof(NONCE, "e6614103e7452d2f", 123456789).hex(),
        },
        "frames": [
            _sealed([p.PUB, 0x1234 << 14 | 3 << 5 | 1, 21.5], DEVICE, 1),
            _sealed([p.ACK, 7, 0], DEVICE, 2),
            _sealed([p.PING, 42], HOST, 1),
        ],
    }


def render() -> str:
    return json.dumps(build(), indent=1) + "\n"


def test_vectors_file_is_up_to_date() -> None:
    assert PATH.read_text(encoding="utf-8") == render(), (
        "regenerate: .venv/bin/python tests/test_lite_keyed.py"
    )


@pytest.mark.parametrize("key", [b"", b"k", b"x" * 64, b"y" * 65, "text key"])
def test_hmac_matches_the_standard_library(key: bytes | str) -> None:
    raw = key.encode() if isinstance(key, str) else key
    want = hmac.new(raw, b"abcdef", hashlib.sha256).digest()
    assert Key(key).hmac(b"abc", b"", b"def") == want


def test_proof_is_the_documented_hmac() -> None:
    want = hmac.new(KEY.encode(), b"ether-hello" + NONCE + b"dev" + (7).to_bytes(4, "big"), hashlib.sha256)
    assert Key(KEY).proof(NONCE, "dev", 7) == want.digest()[:PROOF]
    assert Key("other").proof(NONCE, "dev", 7) != Key(KEY).proof(NONCE, "dev", 7)
    assert Key(KEY).proof(bytes(8), "dev", 7) != Key(KEY).proof(NONCE, "dev", 7)


def test_sealed_frames_open_once_in_their_direction_only() -> None:
    data = json.loads(PATH.read_text(encoding="utf-8"))
    key = Key(KEY)
    for v in data["frames"]:
        raw = framing.decode_frame(bytes.fromhex(v["hex"]))
        n = len(raw)
        d = v["direction"].encode()
        assert raw[: n - TRAILER].hex() == v["body_hex"]
        assert key.open(raw, n, d, NONCE, v["ctr"] - 1) == v["ctr"]
        assert key.open(raw, n, d, NONCE, v["ctr"]) == -1  # a replay
        assert key.open(raw, n, DEVICE if d == HOST else HOST, NONCE, -1) == -1  # reflected
        assert key.open(raw, n, d, bytes(8), -1) == -1  # another session
        assert Key("wrong key").open(raw, n, d, NONCE, -1) == -1
        for i in range(n):  # any flipped bit
            bad = bytearray(raw)
            bad[i] ^= 0x01
            assert key.open(bad, n, d, NONCE, -1) == -1
        assert key.open(raw, TRAILER, d, NONCE, -1) == -1  # too short to hold a body


def test_an_unkeyed_frame_is_refused() -> None:
    body = bytes(cbor2.dumps([p.PUB, 1, 21.5], canonical=True))
    padded = body + bytes(TRAILER)
    assert Key(KEY).open(padded, len(padded), DEVICE, NONCE, -1) == -1
    assert Key(KEY).open(body, len(body), DEVICE, NONCE, -1) == -1


class _KeyedHost:
    """The host end of a memory link to a keyed Node, sealing and opening frames with ``key``."""

    def __init__(self, key: str, node_key: str | None = KEY) -> None:
        from ether_lite import Node, ether_pub
        from ether_lite.links.memory import memory_pair

        class Thermo:
            @ether_pub()
            def read(self) -> float:
                return 21.5

        self.thermo = Thermo()
        self.dev, self.end = memory_pair()
        self.node = Node([self.thermo], self.dev, device_id="dev", boot_id=7, key=node_key)
        self.key = Key(key)
        self.nonce = b""
        self.hnonce = b""  # host -> device frames: nonce, boot_id and the session count of the HELLO
        self.tx = 0
        self.rx = -1
        self.dec = framing.FrameDecoder()

    def send(self, msg: object, *, seal: bool = True) -> None:
        body = bytes(cbor2.dumps(msg, canonical=True))
        buf = bytearray(len(body) + TRAILER)
        buf[: len(body)] = body
        opener = body[:3] == b"\x82\x09\x48"
        nonce = self.nonce if opener else self.hnonce
        n = self.key.seal(buf, 0, len(body), HOST, self.tx, nonce) if seal else len(body)
        self.tx += 1
        f = framing.encode_frame(bytes(buf[:n]))
        self.end.write(f, len(f))

    def query(self, nonce: bytes) -> None:
        self.nonce, self.tx, self.rx = nonce, 0, -1
        self.send([p.QUERY, nonce])

    def recv(self) -> list[list[object]]:
        self.node.poll()
        buf = bytearray(4096)
        n = self.end.readinto(buf)
        out = []
        for raw in self.dec.frames(bytes(buf[:n])):
            ctr = self.key.open(raw, len(raw), DEVICE, self.nonce, self.rx)
            msg = ["refused"] if ctr < 0 else cbor2.loads(raw[: len(raw) - TRAILER])
            if msg[0] == p.HELLO and len(msg) == 8:
                self.hnonce = self.nonce + struct.pack(">II", msg[2], msg[7])
            out.append(msg)
            self.rx = max(self.rx, ctr)
        return out


def test_a_keyed_node_proves_its_hello_and_seals_every_frame() -> None:
    h = _KeyedHost(KEY)
    first = h.recv()  # HELLO on connect: no nonce yet, so the proof is over the empty nonce
    assert first[0][0] == p.HELLO and first[0][6:] == [Key(KEY).proof(b"", "dev", 7), 0]
    h.query(NONCE)
    hello, describe = h.recv()
    assert hello[:3] == [p.HELLO, "dev", 7] and hello[6:] == [Key(KEY).proof(NONCE, "dev", 7), 1]
    assert describe[0] == p.DESCRIBE
    h.send([p.PING, 42])
    (pong,) = h.recv()
    assert pong[:2] == [p.PONG, 42]
    h.node.publish(h.thermo.read)
    *describe_again, pub = h.recv()  # the first reading defines the fields: DESCRIBE again, then PUB
    assert [m[0] for m in describe_again] == [p.DESCRIBE]
    assert pub[0] == p.PUB and pub[2] == 21.5
    assert h.node.refused == 0


def test_a_keyed_node_cuts_long_log_lines_to_fit_the_trailer() -> None:
    h = _KeyedHost(KEY)
    h.recv()
    h.query(NONCE)
    h.recv()
    h.node.log("x" * 300)
    (line,) = h.recv()
    assert line[0] == p.LOG and line[2].endswith("…") and len(line[2].encode()) <= 228


def test_a_second_copy_of_the_query_continues_the_session() -> None:
    h = _KeyedHost(KEY)
    h.recv()
    h.query(NONCE)
    h.send([p.QUERY, NONCE])  # hosts send a QUERY twice when frames get lost
    msgs = h.recv()
    assert [m[0] for m in msgs] == [p.HELLO, p.DESCRIBE] * 2 and h.node.refused == 0


def test_a_keyed_node_refuses_and_counts_frames_without_the_key() -> None:
    h = _KeyedHost(KEY)
    h.recv()
    h.query(NONCE)
    h.recv()
    h.send([p.PING, 1], seal=False)  # no trailer
    assert h.recv() == [] and h.node.refused == 1
    h.tx -= 1
    h.send([p.PING, 2])  # a replayed counter
    h.tx -= 1
    h.send([p.PING, 3])
    assert h.recv() == [[p.PONG, 2, pytest.approx(0, abs=1 << 30)]] and h.node.refused == 2
    spoof = _KeyedHost("wrong key", node_key=KEY)
    spoof.query(NONCE)  # a QUERY without the key neither starts a session nor is answered
    assert len(spoof.recv()) == 2  # only the HELLO and DESCRIBE sent on connect
    assert spoof.node.refused == 1 and spoof.node._nonce == b""
    h.key = Key("wrong key")
    h.query(bytes(8))
    assert h.recv() == [] and h.node.refused == 3
    h.key = Key(KEY)
    h.nonce = NONCE  # the device kept its session
    h.hnonce = NONCE + struct.pack(">II", 7, 1)
    h.tx = 10
    h.send([p.PING, 4])
    assert [m[:2] for m in h.recv()] == [[p.PONG, 4]]


def test_a_recorded_session_replayed_to_the_device_is_refused() -> None:
    """The host -> device MACs cover the board's boot_id and its count of sessions: replaying a recorded
    QUERY and PING (or DELIVER) starts another session on the board, in which the recorded PING fails."""
    h = _KeyedHost(KEY)
    h.recv()
    recorded = []
    write = h.end.write

    def tap(buf: bytes, n: int = -1) -> None:
        recorded.append(bytes(buf[: len(buf) if n < 0 else n]))
        write(buf, n)

    h.end.write = tap  # type: ignore[method-assign]
    h.query(NONCE)
    h.recv()
    h.send([p.PING, 9])
    assert [m[:2] for m in h.recv()] == [[p.PONG, 9]]
    h.end.write = write  # type: ignore[method-assign]
    h.query(bytes(8))  # a later session
    h.recv()
    for frame in recorded:  # the attacker replays the whole recorded session
        h.end.write(frame, len(frame))
    h.node.poll()
    buf = bytearray(4096)
    n = h.end.readinto(buf)
    kinds = [cbor2.loads(r[: len(r) - TRAILER])[0] for r in h.dec.frames(bytes(buf[:n]))]
    assert p.PONG not in kinds and h.node.refused == 1, kinds


def test_a_host_without_the_key_gets_nothing_it_can_verify() -> None:
    h = _KeyedHost("wrong key")
    h.query(NONCE)
    assert all(m == ["refused"] for m in h.recv())


if __name__ == "__main__":
    PATH.write_text(render(), encoding="utf-8")
    print("wrote", PATH)
