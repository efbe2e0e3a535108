"""Keyed UDP device links (PROTOCOL.md 6.1, issue 11): a board with the device's key attaches; a spoofed
HELLO or PUB without the key is refused and counted; a board with another key is refused with a log line
that says so."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import cbor2
import pytest
from bridge_support import DeviceProcess, LoopThread, RecordingSink

from ether_lite import framing, protocol
from ether_lite.keyed import TRAILER
from ether_medium.bridge.links.udp import UdpLink
from ether_medium.bridge.manager import ATTACHED, LinkManager

KEY = "s3cret board key"


def _rig(key: str | None) -> tuple[RecordingSink, UdpLink, LinkManager]:
    sink = RecordingSink()
    link = UdpLink("udp://127.0.0.1:0")
    return sink, link, LinkManager("wifi1", link, sink, device_id="board-k", key=key)


def test_a_keyed_board_attaches_and_spoofed_hello_and_pubs_are_refused() -> None:
    sink, link, mgr = _rig(KEY)
    spoofer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dev: DeviceProcess | None = None
    try:
        with LoopThread(mgr) as lt:
            to = ("127.0.0.1", lt.call(lambda: link.bound[1]))

            def spoof(msg: list[object], pad: bool = False) -> None:
                body = cbor2.dumps(msg, canonical=True) + (bytes(TRAILER) if pad else b"")
                spoofer.sendto(framing.encode_frame(body), to)

            # before the board: a HELLO with its device id from someone without the key
            spoof(protocol.hello("board-k", 1, "spoof", 1, 1 << 30))
            spoof([*protocol.hello("board-k", 1, "spoof", 1, 1 << 30), bytes(16)], pad=True)
            sink.wait(lambda: mgr.counters.unkeyed == 2, what="the spoofed HELLOs refused")
            assert mgr.state != ATTACHED
            dev = DeviceProcess(f"udp://127.0.0.1:{to[1]}", device_id="board-k", key=KEY)
            sink.wait(lambda: mgr.state == ATTACHED, timeout_s=5, what="the keyed board attached")
            n = len(sink.pubs_of("wifi1"))
            sink.wait(lambda: len(sink.pubs_of("wifi1")) >= n + 5, what="keyed readings")
            before = mgr.counters.unkeyed
            # spoofed PUBs forging the board's address would pass the address lock: the key refuses them
            # too; from the spoofer's own address they are strangers (after the HELLO).
            frames_in = mgr.counters.frames_in
            for i in range(20):
                spoof([protocol.PUB, protocol.pack_ref(0, i, 0), -999.0])
            sink.wait(lambda: mgr.counters.strangers >= 20, what="spoofed PUBs dropped")
            assert mgr.counters.frames_in == frames_in and mgr.counters.unkeyed == before
            assert all(d.get("celsius") != -999.0 for d in sink.pubs_of("wifi1"))
    finally:
        spoofer.close()
        if dev is not None:
            dev.stop()


def test_a_keyed_board_that_resets_is_attached_again_at_once(tmp_path: Path) -> None:
    """On a serial link (a pty): the board's start frames (sealed before it has a session) bring the host's
    new QUERY [9, nonce] at once, not after the lease."""
    sink = RecordingSink()
    dev = DeviceProcess(tmp_path / "tty", device_id="board-k", key=KEY)
    try:
        mgr = LinkManager("thermo1", dev.url, sink, device_id="board-k", key=KEY)
        with LoopThread(mgr):
            sink.wait(lambda: mgr.state == ATTACHED, timeout_s=5, what="the keyed board attached")
            dev.reset()
            sink.wait(lambda: sink.count("attached") == 2, timeout_s=3, what="attached again after reset")
            assert [e for e in sink.events if e[0] == "detached"] == [
                ("detached", ("thermo1", "device reset"))
            ]
            assert mgr.counters.unkeyed == 0
    finally:
        dev.stop()


def test_an_unkeyed_pub_or_ack_from_the_boards_address_is_refused() -> None:
    """A frame without the key from the address the board attached from (a forged source address, or
    another program on the board's host): refused and counted; the board stays attached."""
    sink, link, mgr = _rig(KEY)
    board = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    board.bind(("127.0.0.1", 0))
    from ether_lite.keyed import Key

    key = Key(KEY)
    try:
        with LoopThread(mgr) as lt:
            to = ("127.0.0.1", lt.call(lambda: link.bound[1]))
            board.settimeout(5)
            board.sendto(b"\x00", to)  # a datagram, so that the host's QUERY comes here
            dec = framing.FrameDecoder()
            tx = 0
            nonce = b""
            while not nonce:
                for raw in dec.frames(board.recv(2048)):
                    msg = cbor2.loads(raw[: len(raw) - TRAILER])
                    if msg[0] == protocol.QUERY and len(msg) == 2:
                        nonce = msg[1]

            def send(msg: list[object], sealed: bool = True) -> None:
                nonlocal tx
                body = cbor2.dumps(msg, canonical=True)
                buf = bytearray(len(body) + TRAILER)
                buf[: len(body)] = body
                n = key.seal(buf, 0, len(body), b"D", tx, nonce) if sealed else len(body)
                tx += 1
                board.sendto(framing.encode_frame(bytes(buf[:n])), to)

            hello = protocol.hello("board-k", 3, "test", 1, 1 << 30)
            send([*hello, key.proof(nonce, "board-k", 3), 1])
            send(protocol.describe(0, "Thermometer.read", protocol.DEVICE_PUBLISHES, [["celsius", "f"]], 0.1))
            sink.wait(lambda: mgr.state == ATTACHED, what="attach with a proven HELLO")
            send([protocol.PUB, protocol.pack_ref(0, 0, 0), 21.5])
            sink.wait(lambda: len(sink.pubs_of("wifi1")) == 1, what="a keyed reading")
            send([protocol.PUB, protocol.pack_ref(0, 1, 0), -999.0], sealed=False)
            tx -= 2
            send([protocol.PUB, protocol.pack_ref(0, 1, 0), -999.0])  # the last PUB's counter: a replay
            send([protocol.ACK, 1, protocol.ACK_OK], sealed=False)  # a spoofed ACK
            sink.wait(lambda: mgr.counters.unkeyed == 3, what="the unkeyed and replayed PUBs refused")
            assert len(sink.pubs_of("wifi1")) == 1 and mgr.state == ATTACHED
    finally:
        board.close()


def test_a_board_with_another_key_is_refused_with_a_clear_log_line(caplog: pytest.LogCaptureFixture) -> None:
    sink, link, mgr = _rig(KEY)
    dev: DeviceProcess | None = None
    caplog.set_level(logging.WARNING)
    try:
        with LoopThread(mgr) as lt:
            port = lt.call(lambda: link.bound[1])
            dev = DeviceProcess(f"udp://127.0.0.1:{port}", device_id="board-k", key="another key")
            sink.wait(lambda: mgr.counters.unkeyed >= 3, timeout_s=5, what="the board's frames refused")
            assert mgr.state != ATTACHED and not sink.pubs_of("wifi1")
    finally:
        if dev is not None:
            dev.stop()
    text = caplog.text
    assert "refused a frame" in text and "MAC does not verify" in text and "key:" in text, text
