"""The link fault injector on plain byte streams over real ptys, pipes and UDP sockets."""

from __future__ import annotations

import contextlib
import json
import os
import random
import select
import socket
import subprocess
import sys
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil.faults import DatagramFaultProxy, FaultRates, StreamFaultProxy
from hil.faults.ledger import FrameLedger
from hil.faults.plan import ByteMangler, DatagramMangler

ROOT = Path(__file__).resolve().parent.parent


def frames(n: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    return [bytes(rng.randrange(1, 256) for _ in range(rng.randrange(4, 60))) for _ in range(n)]


def stream_of(fs: list[bytes]) -> bytes:
    return b"".join(f + b"\x00" for f in fs)


def read_until_quiet(fd: int, quiet_s: float = 0.3, limit_s: float = 10.0) -> bytes:
    """Everything readable from fd until nothing has arrived for quiet_s."""
    out = bytearray()
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], quiet_s)
        if not r:
            break
        try:
            out += os.read(fd, 65536)
        except OSError:
            break
    return bytes(out)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view[:4096])
        except BlockingIOError:
            select.select([], [fd], [], 1.0)
            continue
        view = view[n:]


@pytest.fixture
def device_pty() -> Iterator[tuple[int, str]]:
    """A pty standing in for a device: (the device's end, the path the proxy opens)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    try:
        yield master, path
    finally:
        for fd in (master, slave):
            with contextlib.suppress(OSError):
                os.close(fd)


def open_bridge(path: str) -> int:
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    return fd


# -- decisions ------------------------------------------------------------------------------------------
def test_rates_are_checked_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match=r"drop=1\.5 must be between 0 and 1"):
        FaultRates(drop=1.5)
    with pytest.raises(ValueError, match="add up to"):
        FaultRates(corrupt=0.6, drop=0.6)


def test_same_seed_same_faults_whatever_the_chunking() -> None:
    data = stream_of(frames(300))
    rates = FaultRates(corrupt=0.02, drop=0.02, duplicate=0.01)
    whole = b"".join(p for _, p in ByteMangler(rates, 7, "x").mangle(data))
    m = ByteMangler(rates, 7, "x")
    rng = random.Random(3)
    pieces, i = [], 0
    while i < len(data):
        n = rng.randrange(1, 50)
        pieces += [p for _, p in m.mangle(data[i : i + n])]
        i += n
    assert b"".join(pieces) == whole
    other = b"".join(p for _, p in ByteMangler(rates, 8, "x").mangle(data))
    assert other != whole


def test_byte_rates_are_what_was_asked() -> None:
    m = ByteMangler(FaultRates(corrupt=0.01, drop=0.01), seed=1, direction="x")
    m.mangle(bytes(range(1, 256)) * 400)  # 102,000 bytes: expect about 1020 of each
    for got in (m.counts.corrupted, m.counts.dropped):
        assert 1020 - 4 * 32 < got < 1020 + 4 * 32


def test_datagram_faults_are_counted() -> None:
    m = DatagramMangler(FaultRates(drop=0.1, duplicate=0.1, corrupt=0.1), seed=2, direction="x")
    out = [m.mangle(b"datagram %d" % i) for i in range(2000)]
    assert sum(len(o) == 0 for o in out) == m.counts.dropped
    assert sum(len(o) == 2 for o in out) == m.counts.duplicated
    assert 100 < m.counts.corrupted < 300


# -- per-frame accounting -------------------------------------------------------------------------------
def test_ledger_tells_intact_damaged_and_lost_frames_apart() -> None:
    fs = frames(5)
    led = FrameLedger()
    led.saw_input(stream_of(fs))
    damaged = bytearray(fs[1])
    damaged[2] ^= 0x40
    # frame 0 intact, 1 damaged, 2 and 3 merged (delimiter dropped), 4 intact
    led.saw_output(fs[0] + b"\x00" + bytes(damaged) + b"\x00" + fs[2] + fs[3] + b"\x00" + fs[4] + b"\x00\x00")
    c = led.counts
    assert (c.frames_in, c.frames_intact, c.frames_damaged, c.frames_lost, c.frames_empty) == (5, 2, 2, 3, 1)
    assert c.lost == [fs[1], fs[2], fs[3]]
    assert c.frames_damaged_crc_ok == 0


def test_a_damaged_frame_whose_crc_still_checks_is_counted_apart() -> None:
    """A frame whose CRC ends in 0x00 ends in the COBS block 01; without that byte it is a valid frame of the
    body less its last byte (a CRC without final XOR does not see trailing zeros)."""
    import cbor2

    from ether_lite import framing, protocol

    body = cbor2.dumps(protocol.pub(7, 291, 291 * 50, [21.5]), canonical=True)
    frame = framing.encode_frame(body)
    assert frame.endswith(b"\x01\x00")  # its CRC's last byte is 0x00
    assert framing.decode_frame(frame[:-2] + b"\x00") == body[:-1]
    led = FrameLedger()
    led.saw_input(frame)
    led.saw_output(frame[:-2] + b"\x00")
    c = led.counts
    assert (c.frames_damaged, c.frames_damaged_crc_ok) == (1, 1)


# -- pty to pty -----------------------------------------------------------------------------------------
def test_clean_pty_proxy_passes_bytes_both_ways(device_pty: tuple[int, str]) -> None:
    dev, path = device_pty
    data = stream_of(frames(200))
    with StreamFaultProxy(path, seed=1) as proxy:
        bridge = open_bridge(proxy.bridge_path)
        try:
            write_all(dev, data)
            assert read_until_quiet(bridge) == data
            write_all(bridge, data[:1000])
            assert read_until_quiet(dev) == data[:1000]
        finally:
            os.close(bridge)
        s = proxy.quiesce()
    assert s["to_bridge"].frames_intact == 200 and s["to_bridge"].frames_lost == 0
    assert s["to_device"].bytes_out == 1000


def test_damaged_frames_are_counted_as_a_receiver_sees_them(device_pty: tuple[int, str]) -> None:
    dev, path = device_pty
    sent = frames(400, seed=5)
    rates = FaultRates(corrupt=0.01, drop=0.01, duplicate=0.005)
    with StreamFaultProxy(path, to_bridge=rates, seed=11) as proxy:
        bridge = open_bridge(proxy.bridge_path)
        try:
            write_all(dev, stream_of(sent))
            got = read_until_quiet(bridge)
        finally:
            os.close(bridge)
        s = proxy.quiesce()["to_bridge"]
    received = [f for f in got.split(b"\x00")[:-1] if f]
    sent_set = set(sent)
    intact = sum(f in sent_set for f in received)
    assert s.frames_in == 400
    assert s.frames_intact == intact
    assert s.frames_damaged == len(received) - intact
    assert s.frames_lost == 400 - intact
    assert s.frames_damaged > 0 and s.frames_lost > 0
    assert set(s.lost) == sent_set - set(received)
    assert s.corrupted > 0 and s.dropped > 0


def test_delays_keep_the_stream_in_order(device_pty: tuple[int, str]) -> None:
    dev, path = device_pty
    data = stream_of(frames(100))
    with StreamFaultProxy(path, rates=FaultRates(delay=0.01, delay_s=0.02), seed=3) as proxy:
        bridge = open_bridge(proxy.bridge_path)
        try:
            write_all(dev, data)
            assert read_until_quiet(bridge) == data
        finally:
            os.close(bridge)
        assert proxy.stats()["to_bridge"].delayed > 0


def test_pipes_of_a_child_process_are_a_device() -> None:
    child = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdin is not None and child.stdout is not None
        with StreamFaultProxy((child.stdout.fileno(), child.stdin.fileno()), seed=1) as proxy:
            bridge = open_bridge(proxy.bridge_path)
            try:
                data = stream_of(frames(50))
                write_all(bridge, data)
                assert read_until_quiet(bridge) == data  # through cat and back
            finally:
                os.close(bridge)
            s = proxy.quiesce()
        assert s["to_device"].frames_intact == s["to_bridge"].frames_intact == 50
    finally:
        child.kill()
        child.wait()


def test_cut_closes_the_bridge_side_and_a_new_pty_appears_at_the_same_path(
    device_pty: tuple[int, str],
) -> None:
    dev, path = device_pty
    with StreamFaultProxy(path, seed=1) as proxy:
        bridge = open_bridge(proxy.bridge_path)
        proxy.cut(0.3)
        assert not os.path.exists(proxy.bridge_path)
        with pytest.raises(OSError):  # the old pty hangs up, as an unplugged USB port does
            r, _, _ = select.select([bridge], [], [], 1.0)
            assert r
            if not os.read(bridge, 100):
                raise OSError("end of file")
        os.close(bridge)
        deadline = time.monotonic() + 3
        while not os.path.exists(proxy.bridge_path):
            assert time.monotonic() < deadline, "the bridge side never came back"
            time.sleep(0.01)
        bridge = open_bridge(proxy.bridge_path)
        try:
            write_all(dev, b"after\x00")
            assert read_until_quiet(bridge) == b"after\x00"
        finally:
            os.close(bridge)
        assert proxy.cuts == 1


def test_silent_cut_drops_bytes_for_its_duration(device_pty: tuple[int, str]) -> None:
    dev, path = device_pty
    with StreamFaultProxy(path, seed=1) as proxy:
        bridge = open_bridge(proxy.bridge_path)
        try:
            proxy.cut(0.3, mode="silence")
            write_all(dev, b"lost\x00")
            assert read_until_quiet(bridge, quiet_s=0.1) == b""
            deadline = time.monotonic() + 3
            while proxy.is_cut:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            write_all(dev, b"kept\x00")
            assert read_until_quiet(bridge) == b"kept\x00"
        finally:
            os.close(bridge)
        assert proxy.stats()["to_bridge"].cut_dropped == 5


# -- UDP ------------------------------------------------------------------------------------------------
@pytest.fixture
def udp_echo() -> Iterator[socket.socket]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    try:
        yield s
    finally:
        s.close()


def test_udp_proxy_forwards_both_ways_and_counts_per_datagram(udp_echo: socket.socket) -> None:
    rates = FaultRates(drop=0.05, duplicate=0.05, corrupt=0.05)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        target = udp_echo.getsockname()
        with DatagramFaultProxy(target, target_role="device", to_device=rates, seed=4) as proxy:
            sent = [b"frame-%04d" % i for i in range(300)]
            got: list[bytes] = []
            back: list[bytes] = []
            for at in range(0, 300, 30):  # in batches, so that no socket buffer overflows
                for d in sent[at : at + 30]:
                    client.sendto(d, proxy.address)
                udp_echo.settimeout(0.05)
                with contextlib.suppress(TimeoutError):
                    while True:
                        data, addr = udp_echo.recvfrom(2048)
                        got.append(data)
                        udp_echo.sendto(data, addr)  # back through the proxy, unharmed that way
                client.settimeout(0.05)
                with contextlib.suppress(TimeoutError):
                    while True:
                        back.append(client.recvfrom(2048)[0])
            s = proxy.stats()
    finally:
        client.close()
    d = s["to_device"]
    assert d.frames_in == 300
    intact = [g for g in got if g in set(sent)]
    assert len(intact) == 300 - d.dropped - d.corrupted + d.duplicated
    assert len(got) - len(intact) == d.corrupted
    assert back == got and s["to_bridge"].frames_intact == len(got)


def test_udp_cut_drops_everything_for_its_duration(udp_echo: socket.socket) -> None:
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        with DatagramFaultProxy(udp_echo.getsockname(), seed=1) as proxy:
            proxy.cut(0.2)
            client.sendto(b"x", proxy.address)
            udp_echo.settimeout(0.1)
            with pytest.raises(TimeoutError):
                udp_echo.recvfrom(100)
            deadline = time.monotonic() + 3
            while proxy.is_cut:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            client.sendto(b"y", proxy.address)
            udp_echo.settimeout(2)
            assert udp_echo.recvfrom(100)[0] == b"y"
            assert proxy.stats()["to_device"].cut_dropped == 1
    finally:
        client.close()


# -- command line ---------------------------------------------------------------------------------------
def test_command_line_prints_where_to_attach_and_the_counters(device_pty: tuple[int, str]) -> None:
    dev, path = device_pty
    cmd = [sys.executable, "-m", "hil.faults", "--device", path, "--drop", "0.5", "--seed", "7"]
    proc = subprocess.Popen([*cmd, "--report-every", "0.05"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("bridge side: serial://")
        write_all(dev, b"\x01" * 1000)
        for line in proc.stdout:  # counter lines, until the proxy has seen every byte
            if line.startswith("to_bridge: in 1000 "):
                break
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
        stats = json.loads(out.strip().splitlines()[-1])
        assert stats["to_bridge"]["bytes_in"] == 1000
        assert 400 < stats["to_bridge"]["dropped"] < 600
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_hold_keeps_device_bytes_back_without_losing_them(device_pty: tuple[int, str]) -> None:
    dev, path = device_pty
    with StreamFaultProxy(path, seed=1) as proxy:
        bridge = open_bridge(proxy.bridge_path)
        try:
            proxy.hold()
            write_all(dev, b"held\x00")
            assert read_until_quiet(bridge, quiet_s=0.1) == b""
            proxy.hold(False)
            write_all(dev, b"next\x00")
            deadline = time.monotonic() + 3
            while proxy.bridge_unread() < 10:
                assert time.monotonic() < deadline, "the held bytes never reached the bridge side"
                time.sleep(0.01)
            assert read_until_quiet(bridge) == b"held\x00next\x00"
            assert proxy.bridge_unread() == 0
        finally:
            os.close(bridge)
        assert proxy.quiesce()["to_bridge"].frames_intact == 2


def test_a_receiver_that_does_not_read_loses_bytes_like_an_overrun(device_pty: tuple[int, str]) -> None:
    dev, path = device_pty
    with StreamFaultProxy(path, seed=1) as proxy:  # nobody opens the bridge side
        chunk = stream_of(frames(2000))
        sent = 0
        deadline = time.monotonic() + 20
        while proxy.stats()["to_bridge"].discarded == 0:
            assert time.monotonic() < deadline, "the proxy buffered without bound"
            write_all(dev, chunk)
            sent += len(chunk)
        s = proxy.stats()["to_bridge"]
    assert s.bytes_out < 65536 and s.discarded > 0  # what fit the pty's buffer went out; beyond 1 MB, lost
    assert s.frames_intact + s.frames_lost + s.frames_in_flight + s.frames_damaged == s.frames_in


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "/nonexistent/tty", "--drop", "0.1"], "cannot open the link"),
        (["--device", "/dev/null", "--drop", "0.7", "--corrupt", "0.7"], "add up to 1.4"),
        (["--udp", "nohost"], "is not HOST:PORT"),
    ],
)
def test_command_line_says_what_is_wrong(args: list[str], message: str) -> None:
    cmd = [sys.executable, "-m", "hil.faults", *args]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=20)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr
