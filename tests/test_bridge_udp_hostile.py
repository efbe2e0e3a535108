"""A UDP board in a real rig (the bridge process ether.tap starts, an ether_lite board on UDP, a host
subscriber) under attack (issue 11): every bad body, 50 spoofed PUBs from another address and a DESCRIBE
without a HELLO; the subscriber keeps getting the board's fresh readings and never a spoofed one."""

from __future__ import annotations

import json
import os
import socket
import struct
from pathlib import Path

import cbor2
import pytest
from bridge_support import DeviceProcess
from conftest import wait_until
from test_bridge_hostile import BAD_BODIES

from ether_lite import framing, protocol
from ether_medium import ether, ether_sub
from ether_medium.bridge.links import exposure_problem, open_link
from ether_medium.config import load_config
from ether_medium.errors import ConfigError, LinkURLError

SPOOFED = -999.0


class ReadingLogger:
    def __init__(self, path: str) -> None:
        self.path = path

    @ether_sub(topic="Thermometer.read")
    def on_reading(self, celsius: float) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(celsius) + "\n")


def readings(path: Path) -> list[float]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def forged(src: tuple[str, int], dst: tuple[str, int], payload: bytes) -> bytes:
    """An IPv4 UDP packet from ``src`` (any address and port: a spoofer's), for a raw socket."""
    udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0) + payload  # checksum 0: none (IPv4)
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(udp),
        0,
        0,
        64,
        socket.IPPROTO_UDP,
        0,
        socket.inet_aton(src[0]),
        socket.inet_aton(dst[0]),
    )  # length, id and checksum: filled in by the kernel
    return ip + udp


def raw_socket() -> socket.socket | None:
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    except PermissionError:
        return None
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    return s


def test_udp_binds_loopback_unless_told_and_beyond_it_needs_a_device_id() -> None:
    link = open_link("udp://:5005")
    assert link.address == ("127.0.0.1", 5005) and not link.exposed  # type: ignore[attr-defined]
    wide = open_link("udp://0.0.0.0:5005")
    assert exposure_problem(wide, None) is not None and exposure_problem(wide, "board-u") is None
    with pytest.raises(ConfigError, match=r"devices.wifi.*beyond loopback.*device_id"):
        load_config({"devices": {"wifi": {"link": "udp://0.0.0.0:5005"}}})
    load_config({"devices": {"wifi": {"link": "udp://0.0.0.0:5005", "device_id": "board-u"}}})
    load_config({"devices": {"wifi": {"link": "udp://:5005"}}})
    with pytest.raises(ConfigError, match=r"devices.wifi.link.*65536.*out of range"):
        load_config({"devices": {"wifi": {"link": "udp://:65536"}}})
    with pytest.raises(LinkURLError, match="beyond loopback"):
        from ether_medium.bridge.manager import LinkManager

        LinkManager("wifi", "udp://0.0.0.0:5005", None)  # type: ignore[arg-type]


def test_a_udp_rig_survives_bad_bodies_spoofed_pubs_and_a_describe_without_hello(tmp_path: Path) -> None:
    port = free_udp_port()
    bridge = ("127.0.0.1", port)
    out = tmp_path / "readings.jsonl"
    config = {
        "instances": {"logger": {"class_path": f"{__name__}.ReadingLogger", "kwargs": {"path": str(out)}}},
        "devices": {"wifi": {"link": f"udp://127.0.0.1:{port}", "device_id": "board-u"}},
    }
    raw = raw_socket()
    spoofer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dev = DeviceProcess(f"udp://127.0.0.1:{port}", device_id="board-u")
    ether.tap(config=config)
    try:
        ether.start()

        def fresh(what: str) -> None:
            n = len(readings(out))
            wait_until(lambda: len(readings(out)) >= n + 3, 10, f"fresh readings after {what}")

        fresh("start")
        # the board's own address (a forged source: the bodies go through the bridge's parser)
        board = dev_address(dev.proc.pid, port)
        for body in BAD_BODIES if raw is not None else []:
            raw.sendto(forged(board, bridge, framing.encode_frame(body)), bridge)  # type: ignore[union-attr]
            fresh(f"body {body.hex() or 'empty'}")
        # another address: 50 PUBs on every topic id, a DESCRIBE re-mapping topic 0, a HELLO of the board
        send = lambda msg: spoofer.sendto(framing.encode_frame(cbor2.dumps(msg)), bridge)  # noqa: E731
        for seq in range(50):
            send(protocol.pub(seq % 4, 1000 + seq, 5000 + seq, [SPOOFED]))
        send(protocol.describe(0, "Thermometer.read", protocol.DEVICE_PUBLISHES, [["celsius", "f"]], 0.1))
        send(protocol.pub(0, 2000, 6000, [SPOOFED]))
        fresh("spoofed PUBs and a DESCRIBE without a HELLO")
        send(protocol.hello("board-u", 99, "spoof", 4, 1 << 30))
        send(protocol.pub(0, 0, 7000, [SPOOFED]))
        fresh("a spoofed HELLO")
        got = readings(out)
        assert SPOOFED not in got
        assert got == sorted(got)  # the board's own, in order
    finally:
        ether.shutdown()
        dev.stop()
        spoofer.close()
        if raw is not None:
            raw.close()
    if raw is None:
        pytest.skip("the bad bodies from the board's own address need a raw socket (CAP_NET_RAW)")


def dev_address(pid: int, port: int) -> tuple[str, int]:
    """The board's UDP source address: its process's socket connected to the bridge's port."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        f = line.split()
        if f[9] in inodes:
            ip, lport = f[1].split(":")
            return socket.inet_ntoa(struct.pack("<I", int(ip, 16))), int(lport, 16)
    raise AssertionError("the board's UDP socket was not found")


def test_a_hello_storm_does_not_starve_the_board() -> None:
    """HELLOs of other boards, frames of another protocol version and garbage from two other addresses, a
    few thousand a second, before and after the board starts: it attaches within a second of its boot, and
    stays attached (the storm's datagrams are strangers once it said HELLO)."""
    import threading
    import time

    from bridge_support import LoopThread, RecordingSink

    from ether_medium.bridge.links.udp import UdpLink
    from ether_medium.bridge.manager import ATTACHED, LinkManager

    sink = RecordingSink()
    link = UdpLink("udp://127.0.0.1:0")
    mgr = LinkManager("wifi1", link, sink, device_id="board-u")
    stop = threading.Event()
    stormers = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    sent = [0]
    dev: DeviceProcess | None = None
    with LoopThread(mgr) as lt:
        port = lt.call(lambda: link.bound[1])
        frames = [
            framing.encode_frame(cbor2.dumps(protocol.hello(f"intruder-{i}", i, "storm", 0, 1 << 30)))
            for i in range(50)
        ]
        frames.append(
            framing.encode_frame(cbor2.dumps([protocol.header(protocol.HELLO, 3), "x", 1, "v3", 0, 8]))
        )
        frames.append(b"\x05\x01\x02\x03\x04\x00")

        def storm() -> None:
            i = 0
            while not stop.is_set():
                stormers[i % 2].sendto(frames[i % len(frames)], ("127.0.0.1", port))
                i += 1
                if i % 20 == 0:
                    time.sleep(0.005)  # ~4000 datagrams a second
            sent[0] = i

        thread = threading.Thread(target=storm)
        thread.start()
        try:
            time.sleep(0.5)  # the storm is on before the board boots
            dev = DeviceProcess(f"udp://127.0.0.1:{port}", device_id="board-u")
            booted = time.monotonic()
            sink.wait(lambda: mgr.state == ATTACHED, timeout_s=5, what="the board attached in the storm")
            took = time.monotonic() - booted
            n = len(sink.pubs_of("wifi1"))
            sink.wait(lambda: len(sink.pubs_of("wifi1")) >= n + 10, what="readings during the storm")
            assert mgr.state == ATTACHED and sink.count("detached") == 0
            assert took < 1.0, f"attached {took:.2f} s after the board booted, in the storm"
        finally:
            stop.set()
            thread.join()
            if dev is not None:
                dev.stop()
            for s in stormers:
                s.close()
    c = mgr.counters
    assert c.strangers > 100 and c.wrong_hellos >= 1, c.summary()


def test_a_describe_from_another_address_counts_for_no_hello() -> None:
    """A DESCRIBE sent before the board's HELLO, from another address, is not taken for the board's."""
    from bridge_support import LoopThread, RecordingSink

    from ether_medium.bridge.links.udp import UdpLink
    from ether_medium.bridge.manager import ATTACHED, LinkManager

    sink = RecordingSink()
    link = UdpLink("udp://127.0.0.1:0")
    mgr = LinkManager("wifi1", link, sink, device_id="board-u")
    board, spoofer = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
    board.bind(("127.0.0.1", 0))
    try:
        with LoopThread(mgr) as lt:
            to = ("127.0.0.1", lt.call(lambda: link.bound[1]))

            def send(s: socket.socket, msg: list[object]) -> None:
                s.sendto(framing.encode_frame(cbor2.dumps(msg, canonical=True)), to)

            send(
                spoofer,
                protocol.describe(0, "Spoof.read", protocol.DEVICE_PUBLISHES, [["celsius", "f"]], 0.1),
            )
            sink.wait(lambda: mgr.counters.frames_in == 1, what="the spoofed DESCRIBE read")
            send(board, protocol.hello("board-u", 3, "test", 1, 1 << 30))
            board.settimeout(5)
            while True:  # the host asks the board for topic 0: the spoofed DESCRIBE did not count
                msg = cbor2.loads(framing.FrameDecoder().frames(board.recv(2048))[0])
                if msg[0] == protocol.QUERY and 0 in msg[1:]:
                    break
            send(
                board,
                protocol.describe(0, "Thermometer.read", protocol.DEVICE_PUBLISHES, [["celsius", "f"]], 0.1),
            )
            sink.wait(lambda: mgr.state == ATTACHED, what="attach with the board's DESCRIBE")
            assert [e.topic for e in lt.call(lambda: list(mgr.endpoints.values()))] == ["Thermometer.read"]
    finally:
        board.close()
        spoofer.close()
