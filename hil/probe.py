"""A host-side probe that speaks the wire protocol to one device and records everything it hears.

The conformance suite uses it to check a device at the protocol level (well-formed HELLO/DESCRIBE,
version errors, garbage, rates, DELIVER/ACK, PING/PONG) independently of the bridge. It never reimplements
the format: frames go through ``ether_lite.framing``, messages through ``ether_lite.protocol``, and CBOR
is decoded with ``cbor2`` (one item, no trailing bytes, as PROTOCOL.md requires of the host).
"""

from __future__ import annotations

import contextlib
import io
import os
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cbor2

from ether_lite import framing, protocol


class ProbeError(AssertionError):
    """The device did not answer as the protocol says (the message says what was expected)."""


@dataclass
class Heard:
    host_t: float  # time.monotonic() when the frame was decoded
    kind: int
    msg: list[Any]


@dataclass
class ProbeCounters:
    frames: int = 0
    crc_errors: int = 0
    cobs_errors: int = 0
    oversize: int = 0
    decode_errors: int = 0  # bodies that are not one well-formed CBOR item
    malformed: int = 0  # messages that fail protocol.check
    gaps: int = 0  # PUBs missing according to the per-topic sequence numbers
    problems: list[str] = field(default_factory=list)


def decode_body(body: bytes) -> Any:
    """One CBOR item that fills the body exactly (cbor2 would otherwise ignore trailing bytes)."""
    fp = io.BytesIO(body)
    item = cbor2.CBORDecoder(fp).decode()
    if fp.tell() != len(body):
        raise ValueError(f"{len(body) - fp.tell()} bytes after the CBOR item")
    return item


class DeviceProbe:
    """Talks to a device over a pair of file descriptors (a tty opened read-write gives the same fd twice)."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd, self.write_fd = read_fd, write_fd
        self.counters = ProbeCounters()
        self.heard: list[Heard] = []
        self._decoder = framing.FrameDecoder()
        self._last_seq: dict[int, int] = {}
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._wlock = threading.Lock()
        self.closed = False
        self._thread = threading.Thread(target=self._read_loop, name="hil-probe", daemon=True)
        self._thread.start()

    # -- sending ---------------------------------------------------------------------------------------
    def send(self, msg: list[Any]) -> None:
        self.send_raw(framing.encode_frame(cbor2.dumps(msg, canonical=True)))

    def send_raw(self, data: bytes) -> None:
        with self._wlock:
            view = memoryview(data)
            while view:
                try:
                    n = os.write(self.write_fd, view)
                except BlockingIOError:
                    select.select([], [self.write_fd], [], 0.5)
                    continue
                view = view[n:]

    # -- hearing ---------------------------------------------------------------------------------------
    def _read_loop(self) -> None:
        while not self._stop.is_set():
            r, _, _ = select.select([self.read_fd], [], [], 0.1)
            if not r:
                continue
            try:
                data = os.read(self.read_fd, 65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                with self._cond:
                    self.closed = True
                    self._cond.notify_all()
                return
            now = time.monotonic()
            bodies = self._decoder.frames(data)
            with self._cond:
                d = self._decoder
                c = self.counters
                c.crc_errors, c.cobs_errors, c.oversize = d.crc_errors, d.cobs_errors, d.oversize
                for body in bodies:
                    self._hear(now, body)
                self._cond.notify_all()

    def _hear(self, now: float, body: bytes) -> None:
        c = self.counters
        c.frames += 1
        try:
            msg = decode_body(body)
        except Exception as exc:  # any cbor2 failure is a decode error, counted with its reason
            c.decode_errors += 1
            c.problems.append(f"undecodable body {body.hex()}: {exc}")
            return
        try:
            kind = protocol.check(msg)
        except protocol.ProtocolError as exc:
            c.malformed += 1
            c.problems.append(f"{msg!r}: {exc}")
            return
        if kind == protocol.HELLO:
            self._last_seq.clear()
        elif kind == protocol.PUB:
            topic, seq, _ = protocol.unpack_ref(msg[1])
            last = self._last_seq.get(topic)
            if last is not None:
                advance = protocol.seq_advance(last, seq)
                if advance > 1:
                    c.gaps += advance - 1
            self._last_seq[topic] = seq
        self.heard.append(Heard(now, kind, msg))

    def wait_for(
        self, pred: Callable[[Heard], bool], timeout_s: float, what: str, since: int = 0
    ) -> Heard:
        """The first message from index ``since`` on that satisfies ``pred``; ProbeError after the timeout."""
        deadline = time.monotonic() + timeout_s
        i = since
        with self._cond:
            while True:
                while i < len(self.heard):
                    if pred(self.heard[i]):
                        return self.heard[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise ProbeError(f"no {what} from the device within {timeout_s:g} s")
                self._cond.wait(left)

    def mark(self) -> int:
        with self._cond:
            return len(self.heard)

    def of_kind(self, kind: int, since: int = 0) -> list[Heard]:
        with self._cond:
            return [h for h in self.heard[since:] if h.kind == kind]

    # -- conversations ---------------------------------------------------------------------------------
    def query(self, timeout_s: float = 5.0) -> tuple[list[Any], dict[int, list[Any]]]:
        """Send QUERY; return HELLO and the DESCRIBEs that follow it (by topic id; re-DESCRIBEs replace)."""
        since = self.mark()
        self.send(protocol.query())
        hello = self.wait_for(lambda h: h.kind == protocol.HELLO, timeout_s, "HELLO after QUERY", since)
        at = self.heard.index(hello)
        n = hello.msg[4]
        seen: dict[int, list[Any]] = {}

        def done(h: Heard) -> bool:
            if h.kind == protocol.DESCRIBE:
                seen[h.msg[1]] = h.msg
            return bool(len(seen) >= n)

        if n:
            self.wait_for(done, timeout_s, f"{n} DESCRIBEs after HELLO", at)
        return hello.msg, seen

    def ping(self, ping_id: int, timeout_s: float = 2.0) -> tuple[float, float, int]:
        """One round trip: (t_send, t_recv, device ticks)."""
        since = self.mark()
        t_send = time.monotonic()
        self.send(protocol.ping(ping_id))
        pong = self.wait_for(
            lambda h: h.kind == protocol.PONG and h.msg[1] == ping_id, timeout_s, f"PONG {ping_id}", since
        )
        return t_send, pong.host_t, pong.msg[2]

    def deliver(self, topic_id: int, msg_id: int, values: list[Any], timeout_s: float = 2.0) -> list[Any]:
        """Send a DELIVER (retransmitting as PROTOCOL.md says) and return its ACK."""
        since = self.mark()
        wait = protocol.DELIVER_TIMEOUT_MS / 1000
        for _ in range(protocol.DELIVER_TRIES):
            self.send(protocol.deliver(topic_id, msg_id, values))
            with contextlib.suppress(ProbeError):
                return self.wait_for(
                    lambda h: h.kind == protocol.ACK and h.msg[1] == msg_id, max(wait, timeout_s / 4),
                    f"ACK {msg_id}", since,
                ).msg
            wait *= 2
        raise ProbeError(f"no ACK for DELIVER msg_id {msg_id} after {protocol.DELIVER_TRIES} tries")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
