"""The host's side of a keyed device link (PROTOCOL.md 6.1): session nonces, sealed frames, HELLO proofs.

A device with ``key:`` in its config speaks only through frames whose 12-byte trailer (counter and
HMAC-SHA256) verifies for the session the host opened with its QUERY ``[9, nonce]``; its HELLO must carry
the proof for that nonce. :class:`HostKey` seals what the host sends and opens what it receives; the link
manager drops (and counts, and logs) what it refuses. The HMAC is ``ether_lite.keyed``'s, the one the
boards run, checked against the standard library's in tests/test_lite_keyed.py.
"""

from __future__ import annotations

import os
import struct
from typing import Any

import cbor2

from ether_lite import keyed, protocol

__all__ = ["HostKey", "read_key_file"]


def read_key_file(path: str, where: str) -> str:
    """The shared secret of a keyed link, from a file only its owner may read (its text, trailing line
    breaks dropped); :class:`~ether_medium.errors.KeyFileError` saying what is wrong and what to do."""
    from ether_medium.errors import KeyFileError
    from ether_medium.fabric.curve import check_private

    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read(4097)
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{where}: cannot read the device key file {path!r}: {exc}") from exc
    check_private(path, where)
    key = text.rstrip("\r\n")  # the line break an editor or `echo` leaves
    if not key or len(key) > 4096:
        raise KeyFileError(f"{where}: the device key file {path!r} must hold the key (1 to 4096 characters), "
                           "the same text the board passes to run(..., key=)")
    return key


class HostKey:
    """The key of one device link and the state of its current session."""

    def __init__(self, key: str | bytes) -> None:
        self.key = keyed.Key(key)
        self.nonce = b""  # no session until the first QUERY [9, nonce]
        self.tx = 0  # counter of the next frame sent
        self.rx = -1  # counter of the last frame taken
        self.hnonce = b""  # what host -> device MACs cover: nonce, the board's boot_id and session count
        self.old_nonce = b""  # the session before this one: its late frames are dropped quietly
        self.board_started = False  # set when a frame came that the board sealed before it had a session

    def new_session(self) -> list[Any]:
        """The QUERY ``[9, nonce]`` that opens a session with a fresh nonce (counters start again)."""
        self.old_nonce = self.nonce
        self.nonce = os.urandom(8)
        self.hnonce = self.nonce  # until the HELLO says the board's session count
        self.tx = 0
        self.rx = -1
        return [protocol.QUERY, self.nonce]

    def seal(self, body: bytes) -> bytes:
        buf = bytearray(len(body) + keyed.TRAILER)
        buf[: len(body)] = body
        opener = body[:3] == b"\x82\x09\x48"  # the QUERY [9, nonce]: sealed with the nonce alone
        n = self.key.seal(buf, 0, len(body), keyed.HOST, self.tx, self.nonce if opener else self.hnonce)
        self.tx += 1
        return bytes(buf[:n])

    def open(self, body: bytes) -> tuple[bytes | None, str]:
        """The body proper of a received keyed frame, or None and why it is refused (``""``: dropped
        quietly, a frame the board sealed before it had a session, or in the session before this one). A
        HELLO comes back without its proof, once the proof verified."""
        if not self.nonce:
            return None, "no session yet (the host's QUERY with a nonce is on its way)"
        ctr = self.key.open(body, len(body), keyed.DEVICE, self.nonce, self.rx)
        if ctr < 0 and self.key.open(body, len(body), keyed.DEVICE, b"", -1) >= 0:
            # what the board sent on start, before it had a session: not a fault; its HELLO (one a boot)
            # asks for a new session
            self.board_started = self.board_started or (len(body) > 1 and body[1] == protocol.HELLO)
            return None, ""
        if (
            ctr < 0
            and self.old_nonce
            and self.key.open(body, len(body), keyed.DEVICE, self.old_nonce, -1) >= 0
        ):
            return None, ""  # the board's answer to the session before: it gets this one's QUERY next
        if ctr < 0:
            return None, (
                "its MAC does not verify: a sender without this device's key, a replay, or a board with "
                "another key or none (compare `key:` in the config with the board's run(key=...))"
            )
        self.rx = ctr
        inner = body[: len(body) - keyed.TRAILER]
        if len(inner) > 1 and inner[1] == protocol.HELLO:
            return self._hello(inner)
        return inner, ""

    def _hello(self, inner: bytes) -> tuple[bytes | None, str]:
        try:
            msg = cbor2.loads(inner)
        except Exception:  # cbor2 raises several types; the dispatcher reports the body
            return inner, ""
        if not (type(msg) is list and len(msg) == 8 and msg[0] == protocol.HELLO):
            return None, "a HELLO without its proof (a board whose ether_lite has no key?)"
        did, boot, proof, sess = msg[1], msg[2], msg[6], msg[7]
        if not (type(sess) is int and 0 <= sess < 2**32):
            return None, "a HELLO without its session count"
        if not (isinstance(did, str) and type(boot) is int and 0 <= boot < 2**32 and type(proof) is bytes):
            return inner, ""  # malformed: the dispatcher says what is wrong with it
        if proof != self.key.proof(self.nonce, did, boot):
            return None, f"the proof of its HELLO (device id {did!r}) does not verify for this session"
        self.hnonce = self.nonce + struct.pack(">II", boot, sess)
        return bytes(cbor2.dumps(msg[:6], canonical=True)), ""
