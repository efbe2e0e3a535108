"""The conformance check every host link passes: :func:`check_link` (as trio's ``check_two_way_stream``).

A link scheme (built in, or a third party's through the ``ether_medium.links`` entry points) is correct when
``check_link(make_pair)`` returns: ``make_pair()`` gives a new link, not open yet, and the device's end of it
as a :class:`Peer`. The check exercises the contract of :mod:`ether_medium.bridge.links` as the bridge uses
it: open, poll the descriptor, read without blocking, frames both ways intact and in order (a datagram
link: one datagram per read), write after write, close twice, open again, and a device that goes away
raising :class:`~ether_medium.errors.LinkLost`. It raises ``AssertionError`` saying what is wrong.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable
from typing import Protocol

from ether_lite import framing
from ether_medium.bridge.links import Link
from ether_medium.errors import LinkLost

__all__ = ["Peer", "check_link"]

_WAIT_S = 5.0


class Peer(Protocol):
    """The device's end of a link under test."""

    def send(self, data: bytes) -> None:
        """Send ``data`` to the host (a datagram link: as one datagram)."""

    def recv(self, n: int, timeout_s: float) -> bytes:
        """What the host sent, until ``n`` bytes came or ``timeout_s`` passed."""

    def hang_up(self) -> None:
        """The device goes away (unplugged, its process ended)."""

    def close(self) -> None:
        """Free what the peer holds (after :meth:`hang_up` too)."""


def _frame(i: int, size: int = 40) -> bytes:
    """A real frame (COBS, CRC, 0x00) of about ``size`` bytes, different for each ``i``."""
    body = bytes([0x82, 0x07]) + bytes([0x78, size]) + bytes((i + k) % 94 + 33 for k in range(size))
    return framing.encode_frame(body)


def _read(link: Link, want: int, timeout_s: float = _WAIT_S) -> bytes:
    """Poll the link's descriptor and read until ``want`` bytes came (AssertionError after the timeout)."""
    got = b""
    deadline = time.monotonic() + timeout_s
    while len(got) < want:
        left = deadline - time.monotonic()
        assert left > 0, f"{link!r}: {len(got)} of {want} bytes arrived within {timeout_s} s"
        fd = link.fileno()
        assert fd >= 0, f"{link!r}: fileno() is {fd} while open"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            data = link.read()
            assert isinstance(data, bytes), f"{link!r}: read() returned {type(data).__name__}, not bytes"
            if link.datagram and data:
                return data  # one datagram per read
            got += data
    return got


def _exchange(link: Link, peer: Peer, i: int) -> None:
    frame = _frame(i)
    peer.send(frame)
    got = _read(link, len(frame))
    assert got == frame, f"{link!r}: the host read {got!r}, the device sent {frame!r}"
    assert link.can_send, f"{link!r}: can_send is False after the device was heard from"
    reply = _frame(i + 1000)
    link.write(reply)
    back = peer.recv(len(reply), _WAIT_S)
    assert back == reply, f"{link!r}: the device received {back!r}, the host wrote {reply!r}"


def check_link(make_pair: Callable[[], tuple[Link, Peer]]) -> None:
    """Check one link scheme against the link contract; see the module docstring."""
    link, peer = make_pair()
    try:
        assert not link.is_open, f"{link!r}: is_open before open()"
        assert isinstance(link.url, str) and isinstance(link.where, str)
        link.open()
        assert link.is_open, f"{link!r}: not is_open after open()"
        # nothing there: read() does not block
        t = time.monotonic()
        assert link.read() == b"", f"{link!r}: read() with nothing sent returned data"
        assert time.monotonic() - t < 0.5, f"{link!r}: read() blocked with nothing to read"
        # frames both ways, one at a time and many in a row, intact and in order
        for i in range(3):
            _exchange(link, peer, i)
        frames = [_frame(i, 20 + i % 200) for i in range(100)]
        if link.datagram:
            for f in frames[:20]:
                peer.send(f)
            for f in frames[:20]:
                assert _read(link, len(f)) == f, f"{link!r}: datagrams not read one per read(), in order"
        else:
            for k in range(0, len(frames), 10):
                chunk = b"".join(frames[k : k + 10])
                peer.send(chunk)
                assert _read(link, len(chunk)) == chunk, f"{link!r}: a stream of frames arrived changed"
        for f in frames[:30]:
            link.write(f)
        sent = b"".join(frames[:30])
        back = peer.recv(len(sent), _WAIT_S)
        assert back == sent, f"{link!r}: {len(back)} of {len(sent)} bytes written arrived intact, in order"
        # close twice; a closed link raises LinkLost
        link.close()
        link.close()
        assert not link.is_open, f"{link!r}: is_open after close()"
        for call in (link.read, lambda: link.write(b"\x00")):
            try:
                call()
            except LinkLost:
                pass
            else:
                raise AssertionError(f"{link!r}: read()/write() on a closed link did not raise LinkLost")
        # open again: it works as before
        link.open()
        _exchange(link, peer, 7)
        # the device goes away: a stream link says so (LinkLost); a datagram link cannot tell
        peer.hang_up()
        if link.reopen_on_silence:
            deadline = time.monotonic() + _WAIT_S
            while True:
                assert time.monotonic() < deadline, f"{link!r}: no LinkLost {_WAIT_S} s after the device left"
                select.select([link.fileno()], [], [], 0.1)
                try:
                    link.read()
                except LinkLost as exc:
                    assert exc.url == link.url, f"{link!r}: LinkLost names {exc.url!r}"
                    break
    finally:
        link.close()
        peer.close()
