"""ether_lite's device-side checks, plain Python: the same bodies run under CPython (pytest,
tests/test_lite_device.py) and under the real MicroPython interpreter (tests/micropython/run_checks.py
via node). No pytest, no typing, nothing MicroPython lacks.

Every ``check_*`` function raises AssertionError (or anything else) on failure. ``VECTORS`` is the
directory holding protocol.json and cbor/; the caller sets it.
"""

# Runs under MicroPython too: no contextlib, no next() defaults idioms needed, %-formatting kept.
# ruff: noqa: SIM110, RUF015

import json

from ether_lite import cbor, framing, protocol
from ether_lite.endpoints import ether_pub, ether_sub
from ether_lite.links.memory import memory_pair
from ether_lite.node import Node

VECTORS = "tests/vectors"
PACKAGE = "ether_lite"  # directory of the ether_lite package (the caller sets it)
SKIP_DIRS = ("sim", "__pycache__")  # ether_lite/sim is desktop simulation, checked by its own tests


def _load(name):
    with open(VECTORS + "/" + name) as f:
        return json.load(f)


def _unhex(text):
    out = bytearray(len(text) // 2)
    for i in range(len(out)):
        out[i] = int(text[2 * i : 2 * i + 2], 16)
    return bytes(out)


def _hex(data):
    return "".join(["%02x" % b for b in data])


def _is_nan(x):
    return isinstance(x, float) and x != x


def _same(a, b):
    """Equal as CBOR values: NaN equals NaN, -0.0 differs from 0.0, bool differs from int."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, float) and isinstance(b, float):
        if a != a or b != b:
            return a != a and b != b
        return a == b and str(a)[0] == str(b)[0]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return False
        for i in range(len(a)):
            if not _same(a[i], b[i]):
                return False
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        if len(a) != len(b):
            return False
        for k in a:
            if k not in b or not _same(a[k], b[k]):
                return False
        return True
    return type(a) is type(b) and a == b


def _from_json(v):
    """protocol.json's message form back to values: {"bytes": hex}, {"float": repr}."""
    if isinstance(v, dict):
        if len(v) == 1 and "bytes" in v:
            return _unhex(v["bytes"])
        if len(v) == 1 and "float" in v:
            return float(v["float"])
        if len(v) == 2 and "tag" in v and "value" in v:
            return cbor.CBORTag(v["tag"], _from_json(v["value"]))
        out = {}
        for k in v:
            out[k] = _from_json(v[k])
        return out
    if isinstance(v, list):
        return [_from_json(x) for x in v]
    return v


# ------------------------------------------------------------------------------ protocol vectors


def check_protocol_vectors():
    data = _load("protocol.json")
    assert data["protocol_version"] == protocol.VERSION
    for v in data["frames"]:
        name = v["name"]
        frame = _unhex(v["hex"])
        body = framing.decode_frame(frame)
        assert _hex(body) == v["body_hex"], name
        msg = cbor.loads(body)
        want = _from_json(v["message"])
        assert _same(msg, want), (name, msg, want)
        assert protocol.kind_name(protocol.check(msg)) == v["kind"], name
        assert cbor.dumps(want) == body, (name, _hex(cbor.dumps(want)))
        assert framing.encode_frame(body) == frame, name


def check_keyed_vectors():
    """ether_lite.keyed (HMAC-SHA256 on this interpreter's sha256) makes the proof and frames in keyed.json"""
    from ether_lite import keyed

    data = _load("keyed.json")
    key = keyed.Key(data["key"])
    nonce = _unhex(data["nonce_hex"])
    h = data["hello"]
    assert _hex(key.proof(nonce, h["device_id"], h["boot_id"])) == h["proof_hex"]
    for v in data["frames"]:
        body = _unhex(v["body_hex"])
        buf = bytearray(len(body) + keyed.TRAILER)
        buf[: len(body)] = body
        d = v["direction"].encode()
        n = key.seal(buf, 0, len(body), d, v["ctr"], nonce)
        assert framing.encode_frame(bytes(buf[:n])) == _unhex(v["hex"]), v
        assert key.open(buf, n, d, nonce, v["ctr"] - 1) == v["ctr"]
        assert key.open(buf, n, d, nonce, v["ctr"]) == -1
        buf[0] ^= 1
        assert key.open(buf, n, d, nonce, -1) == -1


def check_keyed_node_answers_only_its_key():
    """A Node with a key (on this interpreter's sha256) answers a sealed QUERY [9, nonce] with a HELLO
    whose proof verifies, and refuses an unsealed PING."""
    from ether_lite import keyed

    key = keyed.Key("k")
    dev, end = memory_pair()
    node = Node([Thermometer()], dev, device_id="kd", boot_id=5, key="k")
    dec = framing.FrameDecoder()
    buf = bytearray(2048)
    node.poll()
    end.readinto(buf)  # the HELLO sent on connect
    nonce = b"\x01\x02\x03\x04\x05\x06\x07\x08"
    for msg, sealed in (([protocol.PING, 1], False), ([protocol.QUERY, nonce], True)):
        body = cbor.dumps(msg)
        out = bytearray(len(body) + keyed.TRAILER)
        out[: len(body)] = body
        n = key.seal(out, 0, len(body), keyed.HOST, 0, nonce) if sealed else len(body)
        f = framing.encode_frame(bytes(out[:n]))
        end.write(f, len(f))
    node.poll()
    n = end.readinto(buf)
    frames = list(dec.frames(buf[:n]))
    assert node.refused == 1, node.refused
    hello = frames[0]
    assert key.open(hello, len(hello), keyed.DEVICE, nonce, -1) == 0
    msg = cbor.loads(hello[: len(hello) - keyed.TRAILER])
    assert msg[0] == protocol.HELLO and msg[6:] == [key.proof(nonce, "kd", 5), 1], msg
    node.close()


def check_protocol_bad_frames():
    data = _load("protocol.json")
    for v in data["bad_frames"]:
        name = v["name"]
        dec = framing.FrameDecoder()
        bodies = dec.frames(_unhex(v["hex"]))
        if v["layer"] == "frame":
            assert bodies == [] and dec.counters()[v["counter"]] == 1, (name, dec.counters())
            continue
        assert len(bodies) == 1, name
        try:
            msg = cbor.loads(bodies[0])
        except cbor.CBORDecodeError:
            assert v["layer"] == "cbor", name
            continue
        assert v["layer"] == "protocol", name
        try:
            protocol.check(msg)
        except protocol.ProtocolError as e:
            assert e.code == v["code"], (name, e.code)
            if "detail" in v:
                assert list(e.detail) == v["detail"], name
        else:
            raise AssertionError("accepted: " + name)


def check_ref_packing():
    for topic, seq, t in ((0, 0, 0), (31, 511, 65535), (5, 512 + 3, 2**30 - 1), (17, 1000, 123456)):
        ref = protocol.pack_ref(topic, seq, t)
        assert 0 <= ref < 1 << 30
        assert protocol.unpack_ref(ref) == (topic, seq & 511, t & 65535)
    assert (
        protocol.seq_advance(511, 0) == 1
        and protocol.seq_advance(7, 7) == 0
        and protocol.seq_advance(7, 10) == 3
    )
    period = 1 << 29
    for full in (0, 1000, 65535, 65536, period - 1, period - 30000, 123456789):
        for drift in (-30000, -1, 0, 1, 30000):
            ref = (full + drift) % period
            assert protocol.unwrap_ticks16(full & 0xFFFF, ref, period) == full, (full, drift)
    assert protocol.ticks_diff(5, period - 5, period) == 10


# -------------------------------------------------------------------------------------- CBOR


# Appendix A rows JSON cannot hold, as the values ether_lite decodes them to.
def _diagnostic_value(d):
    if d == "Infinity":
        return float("inf")
    if d == "-Infinity":
        return float("-inf")
    if d == "NaN":
        return float("nan")
    if d == "undefined":
        return cbor.undefined
    if d.startswith("simple("):
        return cbor.CBORSimpleValue(int(d[7:-1]))
    if d.startswith("h'"):
        return _unhex(d[2:-1])
    if d == "{1: 2, 3: 4}":
        return {1: 2, 3: 4}
    if d == "(_ h'0102', h'030405')":
        return b"\x01\x02\x03\x04\x05"
    tag, _, rest = d.partition("(")
    inner = rest[:-1]
    if inner.startswith('"'):
        value = inner[1:-1]
    elif inner.startswith("h'"):
        value = _unhex(inner[2:-1])
    elif "." in inner:
        value = float(inner)
    else:
        value = int(inner)
    return cbor.CBORTag(int(tag), value)


def _has_long_ints():
    try:
        return (1 << 62) > 0
    except OverflowError:
        return False


def appendix_a_mapping():
    """``[(hex, python type name)]`` of every Appendix A row, checked against the expected value."""
    rows = _load("cbor/appendix_a.json")
    long_ok = _has_long_ints()
    out = []
    for r in rows:
        data = _unhex(r["hex"])
        want = r["decoded"] if "decoded" in r else _diagnostic_value(r["diagnostic"])
        try:
            got = cbor.loads(data)
        except cbor.CBORDecodeError:
            assert not long_ok and isinstance(want, int), "rejected " + r["hex"]
            out.append((r["hex"], "too large for this interpreter"))
            continue
        if isinstance(want, float) and isinstance(got, float):
            assert (_is_nan(want) and _is_nan(got)) or want == got, (r["hex"], got, want)
        else:
            assert _same(got, want) or (isinstance(want, float) and got == want), (r["hex"], got, want)
        if r["roundtrip"]:
            assert cbor.dumps(got) == data, (r["hex"], _hex(cbor.dumps(got)))
        out.append((r["hex"], type(got).__name__))
    return out


def check_cbor_appendix_a():
    assert len(appendix_a_mapping()) == 82


def check_cbor_fail_vectors():
    rows = _load("cbor/fail.json")
    assert len(rows) == 679
    for r in rows:
        try:
            cbor.loads(_unhex(r["hex"]))
        except cbor.CBORDecodeError:
            continue
        raise AssertionError("accepted malformed " + r["hex"])


def check_cbor_does_not_trust_lengths():
    # an array, map, byte and text string each claiming 2**32-1 elements/bytes with nothing behind them
    for head in (
        b"\x9a\xff\xff\xff\xff",
        b"\xba\xff\xff\xff\xff",
        b"\x5a\xff\xff\xff\xff",
        b"\x7a\xff\xff\xff\xff",
        b"\x9b\x00\x00\x00\x01\x00\x00\x00\x00",
    ):
        try:
            cbor.loads(head + b"\x01\x02")
        except cbor.CBORDecodeError:
            continue
        raise AssertionError("accepted " + _hex(head))
    deep = b"\x81" * 200 + b"\x01"
    try:
        cbor.loads(deep)
    except cbor.CBORDecodeError:
        pass
    else:
        raise AssertionError("accepted nesting of 200")


def check_cbor_floats_shortest_exact():
    cases = (
        (0.0, "f90000"),
        (-0.0, "f98000"),
        (1.0, "f93c00"),
        (1.5, "f93e00"),
        (65504.0, "f97bff"),
        (5.960464477539063e-08, "f90001"),
        (6.103515625e-05, "f90400"),
        (100000.0, "fa47c35000"),
        (3.4028234663852886e38, "fa7f7fffff"),
        (1.1, "fb3ff199999999999a"),
        (1e300, "fb7e37e43c8800759c"),
        (float("inf"), "f97c00"),
        (float("-inf"), "f9fc00"),
        (float("nan"), "f97e00"),
        (21.5, "f94d60"),
    )
    for x, h in cases:
        assert _hex(cbor.dumps(x)) == h, (x, _hex(cbor.dumps(x)), h)


def check_cbor_encoder_preallocated():
    buf = bytearray(8)
    enc = cbor.Encoder(buf)
    enc.encode([1, 2.5, True])
    assert bytes(buf[: enc.n]) == b"\x83\x01\xf9\x41\x00\xf5"
    enc.n = 0
    try:
        enc.encode("a string longer than eight bytes")
    except cbor.CBOREncodeError:
        pass
    else:
        raise AssertionError("overflowed a fixed buffer")


# ------------------------------------------------------------------------------------ framing


class _Rand:
    """A small deterministic generator (MicroPython may lack ``random``)."""

    def __init__(self, seed):
        self.x = seed & 0x7FFFFFFF or 1

    def next(self, n):
        self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.x >> 8) % n

    def bytes(self, n):
        return bytes([self.next(256) for _ in range(n)])


def check_framing_known_answers():
    assert framing.crc16(b"123456789") == 0x29B1
    # COBS examples of the original paper / Wikipedia, here with the CRC appended
    for body, cobs_prefix in (
        (b"\x00", b"\x01"),
        (b"\x00\x00", b"\x01\x01"),
        (b"\x11\x22\x00\x33", b"\x03\x11\x22"),
    ):
        f = framing.encode_frame(body)
        assert f.startswith(cobs_prefix) and f[-1] == 0 and 0 not in f[:-1], (body, f)
        assert framing.decode_frame(f) == body
    for n in (1, 100, 252):
        assert len(framing.encode_frame(b"\x07" * n)) == n + 4
    assert len(framing.encode_frame(b"\x07" * 253)) == 253 + 5
    for n in (253, 254, 255, 256):
        assert framing.decode_frame(framing.encode_frame(b"\x07" * n)) == b"\x07" * n


def check_framing_stream_and_resync():
    rnd = _Rand(1)
    bodies = [rnd.bytes(1 + rnd.next(256)) for _ in range(40)]
    stream = b"".join([framing.encode_frame(b) for b in bodies])
    for chunk in (1, 3, 64, 1000):
        dec = framing.FrameDecoder()
        got = []
        for i in range(0, len(stream), chunk):
            got.extend(dec.frames(stream[i : i + chunk]))
        assert got == bodies, chunk
    # corrupt one byte in frame 3: exactly that frame is lost, counted, and the decoder resyncs
    frames = [framing.encode_frame(b) for b in bodies[:6]]
    bad = bytearray(frames[3])
    bad[2] ^= 0x40
    frames[3] = bytes(bad)
    dec = framing.FrameDecoder()
    got = dec.frames(b"".join(frames))
    assert got == bodies[:3] + bodies[4:6], len(got)
    c = dec.counters()
    assert c["crc_errors"] + c["cobs_errors"] == 1 and c["frames_ok"] == 5, c


def check_framing_garbage_never_raises():
    rnd = _Rand(7)
    good = framing.encode_frame(b"\x82\x05\x01")
    dec = framing.FrameDecoder()
    for _ in range(300):
        data = bytearray(rnd.bytes(rnd.next(600)))
        if rnd.next(2):  # mutate a valid stream instead of pure noise
            data = bytearray(good * 3)
            for _ in range(1 + rnd.next(4)):
                data[rnd.next(len(data))] = rnd.next(256)
        dec.frames(bytes(data))
        try:
            framing.decode_frame(bytes(data))
        except framing.FrameError:
            pass
    # afterwards, a clean frame still comes through
    assert dec.frames(b"\x00" + good) == [b"\x82\x05\x01"]


def check_framing_decoder_allocates_no_frames():
    dec = framing.FrameDecoder()
    buf = dec.body
    data = framing.encode_frame(b"\x01\x02\x03") * 4
    pos = 0
    seen = 0
    while pos < len(data):
        pos = dec.feed(data, pos, len(data))
        if dec.length >= 0:
            assert dec.body is buf and bytes(buf[: dec.length]) == b"\x01\x02\x03"
            seen += 1
    assert seen == 4


# ---------------------------------------------------------------------------------- node loop


class Thermometer:
    def __init__(self):
        self.celsius = 21.5
        self.led = None
        self.calls = 0

    @ether_pub(every=0.02)
    def read(self):
        return {"celsius": self.celsius}

    @ether_sub(fields=[("on", "b")])
    def set_led(self, on):
        self.calls += 1
        self.led = on

    @ether_sub(topic="Thermometer.fail", fields=["why"])
    def fail(self, why):
        raise ValueError(why)

    @ether_sub(topic="Thermometer.blink")
    def blink(self, n=1, period_s=0.5):
        self.led = (n, period_s)


class Host:
    """The host end of a memory link, speaking with ether_lite's own codec."""

    def __init__(self, objs):
        self.dev, self.end = memory_pair()
        self.node = Node(objs, self.dev, device_id="test-device", boot_id=99)
        self.dec = framing.FrameDecoder()
        self.buf = bytearray(512)

    def send(self, msg):
        f = framing.encode_frame(cbor.dumps(msg))
        self.end.write(f, len(f))

    def send_raw(self, data):
        self.end.write(data, len(data))

    def recv(self, polls=1):
        for _ in range(polls):
            self.node.poll()
        out = []
        while True:
            n = self.end.readinto(self.buf)
            if not n:
                return out
            for b in self.dec.frames(self.buf[:n]):
                out.append(cbor.loads(b))

    def close(self):
        self.node.close()


def _kinds(msgs):
    return [m[0] for m in msgs]


def check_node_hello_and_describe():
    h = Host(Thermometer())
    try:
        msgs = h.recv()
        hello = msgs[0]
        assert hello[:3] == [protocol.HELLO, "test-device", 99] and hello[4] == 4, hello
        assert hello[5] in (1 << 29, 1 << 30)
        assert hello[3].startswith("ether_lite ")
        names = [m[2] for m in msgs[1:5]]
        assert names == [
            "Thermometer.blink",
            "Thermometer.fail",
            "Thermometer.read",
            "Thermometer.set_led",
        ], names
        for m in msgs[1:5]:
            protocol.check(m)
        assert msgs[4][4] == [["on", "b"]] and msgs[2][4] == [["why", "a"]]
        # the timed publisher had no declared fields: a DESCRIBE with them precedes its first PUB
        assert msgs[5][:3] == [protocol.DESCRIBE, 2, "Thermometer.read"] and msgs[5][4] == [["celsius", "f"]]
        assert msgs[6][0] == protocol.PUB and msgs[6][2] == 21.5
        h.send(protocol.query())
        again = _kinds(h.recv())
        # HELLO and its DESCRIBEs are contiguous (PROTOCOL.md); the timed publisher (every 20 ms) may
        # publish after them in the same poll, never between them
        assert again[:5] == [protocol.HELLO] + [protocol.DESCRIBE] * 4, again
        assert again[5:] in ([], [protocol.PUB]), again
    finally:
        h.close()


def check_node_answers_a_query_for_some_topic_ids():
    # PROTOCOL.md, QUERY: [9, id, ...] is answered with the DESCRIBEs of those ids, in that order, back to
    # back and without a HELLO; a topic id the device does not have gets ERROR 3 after them
    h = Host(Thermometer())
    try:
        h.recv()
        h.send(protocol.query([3, 0]))
        msgs = [m for m in h.recv() if m[0] != protocol.PUB]
        assert [m[:3] for m in msgs] == [[protocol.DESCRIBE, 3, "Thermometer.set_led"],
                                         [protocol.DESCRIBE, 0, "Thermometer.blink"]], msgs
        h.send(protocol.query([1, 9]))
        msgs = [m for m in h.recv() if m[0] != protocol.PUB]
        assert _kinds(msgs) == [protocol.DESCRIBE, protocol.ERROR], msgs
        assert msgs[0][1] == 1 and msgs[1][1] == protocol.ERR_UNKNOWN_TOPIC and msgs[1][3:] == [9], msgs
        h.send([protocol.QUERY, 1, 32])  # out of range: malformed, nothing described
        msgs = [m for m in h.recv() if m[0] != protocol.PUB]
        assert _kinds(msgs) == [protocol.ERROR] and msgs[0][1] == protocol.ERR_MALFORMED, msgs
    finally:
        h.close()


def check_subscriber_defaults_on_either_interpreter():
    # PROTOCOL.md, DESCRIBE fields: CPython describes a parameter's default (the host fills it into the
    # DELIVER); MicroPython describes no fields (the host sends a map of what the caller gave, and the
    # function's own defaults apply). Either way blink(n=2) runs as blink(2, 0.5).
    import sys

    th = Thermometer()
    h = Host(th)
    try:
        blink = [m for m in h.recv() if m[0] == protocol.DESCRIBE and m[2] == "Thermometer.blink"][0]
        if blink[4] is None:
            assert sys.implementation.name != "cpython"
            h.send(protocol.deliver(blink[1], 5, [{"n": 2}]))
        else:
            assert blink[4] == [["n", "a", 1], ["period_s", "a", 0.5]], blink
            protocol.check(blink)
            h.send(protocol.deliver(blink[1], 5, [2, blink[4][1][2]]))
        acks = [m for m in h.recv() if m[0] == protocol.ACK]
        assert [a[1:3] for a in acks] == [[5, 0]], acks
        assert th.led == (2, 0.5), th.led
    finally:
        h.close()


def check_node_ping_pong_and_publish_on_demand():
    th = Thermometer()
    h = Host(th)
    try:
        h.recv()
        h.send(protocol.ping(1234))
        msgs = h.recv()
        pong = [m for m in msgs if m[0] == protocol.PONG][0]
        assert pong[1] == 1234 and 0 <= pong[2] < (1 << 30)
        th.celsius = 19.25
        before = h.node.endpoint("Thermometer.read")[10]  # seq (endpoint layout: ether_lite.endpoints)
        assert th.read() == {"celsius": 19.25}  # calling the method publishes it
        h.node.publish(th.read)
        msgs = [m for m in h.recv(0) if m[0] == protocol.PUB]
        assert len(msgs) == 2 and msgs[0][2] == 19.25, msgs
        topic, seq, _ = protocol.unpack_ref(msgs[0][1])
        assert topic == 2 and seq == before and protocol.unpack_ref(msgs[1][1])[1] == (before + 1) & 511
    finally:
        h.close()


def check_node_deliver_ack_and_dedup():
    th = Thermometer()
    h = Host(th)
    try:
        h.recv()
        h.send(protocol.deliver(3, 7, [True]))
        h.send(protocol.deliver(3, 7, [True]))  # retransmission: re-ACKed, handler not run again
        acks = [m for m in h.recv() if m[0] == protocol.ACK]
        assert [a[:3] for a in acks] == [[protocol.ACK, 7, 0], [protocol.ACK, 7, 0]], acks
        assert th.led is True and th.calls == 1
        h.send(protocol.deliver(3, 0, [False]))  # no ACK wanted
        assert [m for m in h.recv() if m[0] == protocol.ACK] == [] and th.led is False
        if h.node.endpoint("Thermometer.blink", protocol.DEVICE_SUBSCRIBES)[4] is None:  # fields: MicroPython
            h.send(protocol.deliver(0, 8, [{"n": 3, "period_s": 0.25}]))  # one keyword map
        else:  # CPython read the signature: values in field order
            h.send(protocol.deliver(0, 8, [3, 0.25]))
        h.send(protocol.deliver(3, 9, [1, 2]))  # wrong count
        h.send(protocol.deliver(2, 10, [1.0]))  # a publisher, not a subscriber
        h.send(protocol.deliver(1, 11, ["overheated"]))  # handler raises
        msgs = h.recv()
        acks = [m for m in msgs if m[0] == protocol.ACK]
        assert [a[1:3] for a in acks] == [[8, 0], [9, 2], [10, 1], [11, 3]], acks
        assert th.led == (3, 0.25)
        assert acks[3][3] == "ValueError: overheated"
        logs = [m for m in msgs if m[0] == protocol.LOG]
        assert logs and logs[0][1] == protocol.ERROR_LEVEL and "overheated" in logs[0][2]
        h.send(protocol.deliver(9, 0, [1]))
        errs = [m for m in h.recv() if m[0] == protocol.ERROR]
        assert errs[0][1] == protocol.ERR_UNKNOWN_TOPIC and errs[0][3] == 9, errs
        # on a board, what a DELIVER, an error or the Node's construction needed is not kept (RAM:
        # ether_lite.node._drop; CPython keeps it)
        import sys

        if sys.implementation.name != "cpython":
            lazy = ("startup", "fields", "receive", "cbor_decoder", "report")
            kept = [m for m in lazy if "ether_lite." + m in sys.modules]
            assert kept == [], kept
    finally:
        h.close()


def check_node_bad_input_is_answered_and_survived():
    h = Host(Thermometer())
    try:
        h.recv()
        h.send_raw(framing.encode_frame(b"\x82\x05"))  # truncated CBOR
        h.send([protocol.header(protocol.PING, 2), 5])  # another protocol version
        h.send([12])  # reserved kind
        h.send(protocol.pub(0, 0, 0, [1]))  # device-to-host kind sent to the device
        h.send(protocol.error(protocol.ERR_INTERNAL, "host trouble"))  # never answered
        h.send_raw(b"\x05\x01\x02\x00")  # bad COBS: counted, no reply
        msgs = [m for m in h.recv() if m[0] == protocol.ERROR and not m[2].startswith("frames dropped")]
        assert [m[1] for m in msgs] == [2, 1, 2, 2], msgs
        assert msgs[1][3:] == [2, 1]
        assert h.node._dec.cobs_errors == 1
        h.send(protocol.ping(1))
        assert [m for m in h.recv() if m[0] == protocol.PONG][0][1] == 1
    finally:
        h.close()


def check_node_log_lines():
    from ether_lite import log

    h = Host(Thermometer())
    try:
        h.recv()
        log("hello from the board", protocol.WARNING)
        h.node.log("é" * 300)
        msgs = [m for m in h.recv(0) if m[0] == protocol.LOG]
        assert msgs[0] == [protocol.LOG, protocol.WARNING, "hello from the board"]
        text = msgs[1][2]
        assert text.endswith("…") and len(text.encode("utf-8")) <= 240 and text.startswith("éé")
    finally:
        h.close()


def check_node_long_texts_fit_a_frame():
    h = Host(Thermometer())
    try:
        h.recv()
        why = "é" * 100  # 200 bytes: "ValueError: " + why is over the 200 an ACK or ERROR text may hold
        h.send(protocol.deliver(1, 12, [why]))  # Thermometer.fail raises ValueError(why)
        ack = [m for m in h.recv() if m[0] == protocol.ACK][0]
        assert ack[1:3] == [12, protocol.ACK_HANDLER_RAISED], ack
        text = ack[3]
        assert text.startswith("ValueError: éé") and text.endswith("…") and len(text.encode("utf-8")) <= 200
        h.send(protocol.deliver(1, 0, [why]))  # no ACK wanted: an ERROR, cut the same way
        err = [m for m in h.recv() if m[0] == protocol.ERROR][0]
        assert err[1] == protocol.ERR_INTERNAL and err[2] == text and err[3] == 1, err
    finally:
        h.close()


def check_node_publishes_at_rate():
    from ether_lite import clock

    th = Thermometer()
    h = Host(th)
    try:
        start = clock.ticks_ms()
        pubs = []
        while clock.ticks_diff(clock.ticks_ms(), start) < 110:
            pubs.extend([m for m in h.recv() if m[0] == protocol.PUB])
        assert 4 <= len(pubs) <= 7, len(pubs)  # every 20 ms for ~110 ms, first one immediately
        seqs = [protocol.unpack_ref(m[1])[1] for m in pubs]
        assert seqs == list(range(len(pubs))), seqs
    finally:
        h.close()


def check_no_allocation_per_reading():
    """Under MicroPython (gc.mem_alloc): framing and publishing a reading allocate nothing."""
    import gc

    if not hasattr(gc, "mem_alloc"):
        return  # CPython: no allocation counter; bench/lite.py reports the MicroPython figures
    th = Thermometer()
    h = Host(th)
    try:
        h.recv()
        ep = h.node.endpoint("Thermometer.read")
        result = th.read()
        body = cbor.dumps(protocol.pub(0, 1, 2, [21.437]))
        frame = bytearray(framing.MAX_FRAME)
        nf = framing.encode_into(frame, body, len(body))
        dec = framing.FrameDecoder()
        buf = h.buf
        for label, fn in (
            ("frame encode", lambda: framing.encode_into(frame, body, len(body))),
            ("frame decode", lambda: dec.feed(frame, 0, nf)),
            ("publish", lambda: h.node._pub(ep, result) or h.end.readinto(buf)),
        ):
            fn()
            gc.collect()
            gc.disable()
            try:
                before = gc.mem_alloc()
                for _ in range(50):
                    fn()
                used = gc.mem_alloc() - before
            finally:
                gc.enable()
            assert used == 0, "%s allocated %d bytes in 50 runs" % (label, used)
    finally:
        h.close()


# ------------------------------------------------------------------------------------- imports


def package_modules(directory=None, dotted="ether_lite"):
    """Dotted names of every module of the package (walks the directory with ``os.listdir``)."""
    import os

    directory = directory or PACKAGE
    out = []
    for name in sorted(os.listdir(directory)):
        path = directory + "/" + name
        if name.endswith(".py") or name.endswith(".mpy"):  # source, or compiled as `ether deploy` does
            stem = name[: name.rindex(".")]
            out.append(dotted if stem == "__init__" else dotted + "." + stem)
        elif name not in SKIP_DIRS and "." not in name:
            try:
                os.listdir(path)
            except OSError:
                continue
            out.extend(package_modules(path, dotted + "." + name))
    return out


# ------------------------------------------------------------------------------------ arrays

_TYPECODES = "bBhHiIlLqQfd"
# struct's standard format of each array type's element
_STANDARD = {"[i1": "b", "[u1": "B", "[i2": "h", "[u2": "H", "[i4": "i", "[u4": "I", "[i8": "q", "[u8": "Q",
             "[f4": "f", "[f8": "d"}


def _typecodes():
    """The array typecodes this interpreter has (a board without long ints may lack q and Q)."""
    import array

    out = []
    for tc in _TYPECODES:
        try:
            array.array(tc, [1])
        except (ValueError, OverflowError):
            continue
        out.append(tc)
    return out


def check_arrays_encode_as_typed_arrays():
    # PROTOCOL.md, "Arrays": an array.array is its RFC 8746 tag (element type, little-endian) over its bytes
    import array
    import struct

    from ether_lite import cbor_core, fields, typed

    for tc in _typecodes():
        ftype = typed.field_type(tc)
        assert ftype in protocol.ARRAY_TYPES and typed.declared("[" + tc) == ftype, (tc, ftype)
        assert typed.declared(ftype) == ftype
        assert typed.tag(tc) == protocol.ARRAY_TAGS[ftype], (tc, typed.tag(tc))
        values = [1, 2, 100] if tc in "BHILQ" else [1, -2, 100] if tc not in "fd" else [1.5, -0.25, 100.0]
        enc = cbor_core.Encoder(bytearray(64))
        enc.encode(array.array(tc, values))
        data = struct.pack("<%d%s" % (len(values), _STANDARD[ftype]), *values)
        want = cbor.dumps(cbor.CBORTag(protocol.ARRAY_TAGS[ftype], data))
        assert bytes(enc.buf[: enc.n]) == want, (tc, _hex(enc.buf[: enc.n]), _hex(want))
        assert fields.of_value({"w": array.array(tc)}) == [["w", ftype]]
    for bad in ("[e", "[x", "[", "[i3", "[f2", "[hh", "ff", "[i22"):
        assert typed.declared(bad) is None, bad
    enc = cbor_core.Encoder(bytearray(8))
    try:
        enc.encode(array.array("h", range(10)))  # 20 bytes do not fit 8
    except cbor_core.CBOREncodeError:
        pass
    else:
        raise AssertionError("an array over the buffer was encoded")


def check_arrays_decode_and_hostile_ones_are_refused():
    # a device reads a little-endian typed array as an array.array; anything else tagged is malformed
    import array
    import struct

    from ether_lite import cbor_decoder

    for tc in _typecodes():
        tag = protocol.ARRAY_TAGS[_array_type(tc)]
        n = struct.calcsize(tc)
        raw = bytes(range(1, 3 * n + 1))
        got = cbor_decoder.loads(cbor.dumps(cbor.CBORTag(tag, raw)))
        assert isinstance(got, array.array) and bytes(got) == raw and len(got) == 3, (tc, got)
    bad = [
        cbor.CBORTag(68, b"\x01"),  # uint8 clamped: not read
        cbor.CBORTag(65, b"\x00\x01"),  # big-endian uint16
        cbor.CBORTag(84, b"\x00\x3c"),  # float16: no array type
        cbor.CBORTag(77, b"\x01"),  # half an int16
        cbor.CBORTag(86, b"\x00" * 7),
        cbor.CBORTag(77, "text"),
        cbor.CBORTag(77, [1, 2]),
        cbor.CBORTag(77, cbor.CBORTag(77, b"")),
        cbor.CBORTag(40, [[1], cbor.CBORTag(77, b"\x01\x00")]),  # the fabric's form is not a device's
        cbor.CBORTag(2, b"\x01"),  # a bignum
    ]
    for item in bad:
        body = cbor.dumps([protocol.DELIVER, 0, 1, item])
        try:
            cbor_decoder.loads(body)
        except cbor_decoder.CBORDecodeError:
            continue
        raise AssertionError("accepted " + _hex(body))
    for raw in (b"\xd8\x4d\x5b\xff\xff\xff\xff\xff\xff\xff\xff",  # claims 2**64 bytes
                b"\xdb\xff\xff\xff\xff\xff\xff\xff\xff\x40",  # a 64-bit tag number
                b"\xd8\x4d", b"\xd8\x4d\x42\x01"):  # truncated
        try:
            cbor_decoder.loads(raw)
        except cbor_decoder.CBORDecodeError:
            continue
        raise AssertionError("accepted " + _hex(raw))


def _array_type(tc):
    from ether_lite import typed

    return typed.field_type(tc)


class Scope:
    def __init__(self):
        import array

        self.codes = array.array("h", [1, -2, 300])
        self.levels = None

    @ether_pub(fields=[("codes", "[h")])
    def trace(self):
        return {"codes": self.codes}

    @ether_pub()
    def volts(self):
        import array

        return {"v": array.array("f", [1.5, -0.25]), "n": 2}

    @ether_sub(fields=[("levels", "[B")])
    def set_levels(self, levels):
        self.levels = levels
        self.trace()


def check_node_publishes_and_receives_arrays():
    import array
    import sys

    sc = Scope()
    h = Host(sc)
    try:
        described = {}
        for m in h.recv():
            if m[0] == protocol.DESCRIBE:
                protocol.check(m)
                described[m[2]] = m
        assert described["Scope.trace"][4] == [["codes", "[i2"]], described
        assert described["Scope.set_levels"][4] == [["levels", "[u1"]], described
        sc.trace()
        sc.volts()  # its first reading defines its fields: an array type for the array
        msgs = h.recv(0)
        pubs = [m for m in msgs if m[0] == protocol.PUB]
        assert pubs[0][2] == cbor.CBORTag(77, b"\x01\x00\xfe\xff\x2c\x01"), pubs
        fields = [m for m in msgs if m[0] == protocol.DESCRIBE and m[2] == "Scope.volts"][0][4]
        assert sorted(fields) == [["n", "i"], ["v", "[f4"]], fields
        assert cbor.CBORTag(85, b"\x00\x00\xc0\x3f\x00\x00\x80\xbe") in pubs[1], pubs
        tid = described["Scope.set_levels"][1]
        h.send(protocol.deliver(tid, 3, [cbor.CBORTag(64, b"\x00\x80\xff")]))
        msgs = h.recv()
        assert [m[1:3] for m in msgs if m[0] == protocol.ACK] == [[3, 0]], msgs
        assert isinstance(sc.levels, array.array) and list(sc.levels) == [0, 128, 255], sc.levels
        h.send(protocol.deliver(tid, 4, [cbor.CBORTag(77, b"\x01")]))  # half an int16: malformed
        msgs = h.recv()
        errs = [m for m in msgs if m[0] == protocol.ERROR]
        assert [e[1] for e in errs] == [protocol.ERR_MALFORMED] and "typed array" in errs[0][2], msgs
        assert list(sc.levels) == [0, 128, 255]
        sc.codes = array.array("h", range(200))  # 400 bytes: over a frame
        sc.trace()
        errs = [m for m in h.recv(0) if m[0] == protocol.ERROR]
        assert [e[1] for e in errs] == [protocol.ERR_OVERSIZE], errs
        try:
            Node(_BadArray(), memory_pair()[0])
        except ValueError as e:
            assert "[h" in str(e), e
        else:
            raise AssertionError("fields=[('x', '[e')] was accepted")
        if sys.implementation.name != "cpython":  # what describing and reading needed is not kept
            kept = [m for m in ("fields", "cbor_decoder", "startup") if "ether_lite." + m in sys.modules]
            assert kept == [] and "ether_lite.typed" in sys.modules, kept
    finally:
        h.close()


class _BadArray:
    @ether_pub(fields=[("x", "[e")])
    def read(self):
        return {"x": 1}


def check_a_node_without_arrays_does_not_load_their_code():
    import sys

    sys.modules.pop("ether_lite.typed", None)
    th = Thermometer()
    h = Host(th)
    try:
        h.recv()
        h.send(protocol.deliver(3, 7, [True]))
        h.recv()
        th.read()
        h.recv(0)
        assert "ether_lite.typed" not in sys.modules
    finally:
        h.close()


def check_every_module_imports():
    """Importing every ether_lite module works on this interpreter (under MicroPython this proves that
    nothing outside what MicroPython has is imported at module level)."""
    mods = package_modules()
    assert "ether_lite.cbor" in mods and "ether_lite.links.udp" in mods, mods
    for m in mods:
        __import__(m)


# ------------------------------------------------------------------------------------- runner


def all_checks():
    g = globals()
    return [(name, g[name]) for name in sorted(g) if name.startswith("check_")]


def run_all():
    """Run every check, print one line each; return the number that failed."""
    import sys

    failed = 0
    for name, fn in all_checks():
        try:
            fn()
            print("ok   " + name)
        except Exception as e:  # report and carry on with the other checks
            failed += 1
            print("FAIL " + name)
            if hasattr(sys, "print_exception"):
                sys.print_exception(e)
            else:
                import traceback

                traceback.print_exc()
    return failed
