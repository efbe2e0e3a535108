"""Keyed UDP device links (PROTOCOL.md 6.1, issue 11): a board with the device's key attaches; a spoofed
HELLO or PUB without the key is refused and counted; a board with another key is refused with a log line
that says so."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
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


def _key_file(tmp_path: Path, mode: int = 0o600, text: str = KEY + "\n") -> Path:
    path = tmp_path / "board.key"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def _ether_bridge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ether_medium.cli", "bridge", *args], capture_output=True,
                          text=True, timeout=30)


def test_ether_bridge_key_file_attaches_a_keyed_board(tmp_path: Path) -> None:
    dev = DeviceProcess(tmp_path / "tty", device_id="board-k", key=KEY)
    try:
        out = _ether_bridge(dev.url, "--id", "board-k", "--key-file", str(_key_file(tmp_path)), "--duration",
                            "3")
    finally:
        dev.stop()
    assert out.returncode == 0, out.stderr
    assert "attached: id board-k" in out.stdout and "Thermometer.read #" in out.stdout, out.stdout


def test_a_key_file_others_can_read_or_that_is_empty_is_refused(tmp_path: Path) -> None:
    out = _ether_bridge("udp://:0", "--key-file", str(_key_file(tmp_path, mode=0o644)), "--duration", "1")
    assert out.returncode == 2 and "chmod 600" in out.stderr and "--key-file" in out.stderr, out.stderr
    out = _ether_bridge("udp://:0", "--key-file", str(_key_file(tmp_path, text="\n")), "--duration", "1")
    assert out.returncode == 2 and "must hold the key" in out.stderr, out.stderr
    out = _ether_bridge("udp://:0", "--key-file", str(tmp_path / "missing.key"), "--duration", "1")
    assert out.returncode == 2 and "cannot read the device key file" in out.stderr, out.stderr


def test_config_takes_key_or_key_file_and_check_reads_the_file(tmp_path: Path) -> None:
    from ether_medium.config import EtherConfig
    from ether_medium.errors import KeyFileError
    from ether_medium.fabric.preflight import preflight

    key_file = _key_file(tmp_path)
    with pytest.raises(ValueError, match="give key or key_file, not both"):
        EtherConfig.model_validate(
            {"devices": {"b": {"link": "udp://:5005", "key": KEY, "key_file": str(key_file)}}})
    cfg = EtherConfig.model_validate({"devices": {"b": {"link": "udp://:5005", "key_file": str(key_file)}}})
    assert cfg.devices["b"].secret() == KEY and preflight(cfg) == []
    key_file.chmod(0o640)
    with pytest.raises(KeyFileError, match="chmod 600"):
        cfg.devices["b"].secret()
    assert any(p.startswith("devices.b.key_file:") and "chmod 600" in p for p in preflight(cfg))
