"""The optional per-device shared key (PROTOCOL.md, section "Keyed links"): HELLO proofs and frame MACs.

Loaded only when a key is set: a board without ``hashlib`` (or ``adafruit_hashlib``) never imports it, and
frames without a key are byte for byte what they were. HMAC-SHA256 is built here on ``sha256`` alone
(MicroPython and CircuitPython have no ``hmac`` module, and their hash objects have no ``copy()``).

- HELLO proof: ``HMAC(key, "ether-hello" ‖ nonce ‖ device_id ‖ boot_id)[:16]``, the host's nonce from its
  QUERY ``[9, nonce]``, then the device's count of sessions this boot.
- Every other frame of a keyed link carries a trailer after its CBOR body, inside the CRC:
  ``ctr`` (4 bytes, big-endian, per direction, from 0 after each nonce) ‖ ``HMAC(key, n ‖ dir ‖ ctr ‖
  body)[:8]``, ``dir`` being ``b"D"`` for device → host and ``b"H"`` for host → device, ``n`` the nonce
  (host → device, but for the QUERY itself: nonce ‖ boot_id ‖ session count, so no recorded session
  replays). A receiver takes a
  frame only if its MAC verifies and its ``ctr`` is above the last one it took in that direction.
"""

import struct

try:
    from hashlib import sha256
except ImportError:  # CircuitPython boards without hashlib in the core
    try:
        from adafruit_hashlib import sha256
    except ImportError:
        raise ImportError("a keyed link needs hashlib, or adafruit_hashlib on the board "
                          "(circup install adafruit_hashlib)")

TRAILER = 12  # bytes a keyed frame adds: 4 counter + 8 MAC
PROOF = 16  # bytes of the HELLO proof
DEVICE = b"D"  # direction of device -> host frames
HOST = b"H"  # direction of host -> device frames


class Key:
    """A shared key (bytes or str, any length) with its HMAC pads computed once (128 bytes of RAM)."""

    def __init__(self, key):
        if isinstance(key, str):
            key = key.encode("utf-8")
        if len(key) > 64:
            key = sha256(key).digest()
        key = key + b"\x00" * (64 - len(key))
        self._ipad = bytes(b ^ 0x36 for b in key)
        self._opad = bytes(b ^ 0x5C for b in key)

    def hmac(self, *parts):
        """HMAC-SHA256 of the concatenation of ``parts`` (32 bytes)."""
        h = sha256(self._ipad)
        for part in parts:
            h.update(part)
        return sha256(self._opad + h.digest()).digest()

    def proof(self, nonce, device_id, boot_id):
        """The HELLO proof for the host's ``nonce`` (16 bytes)."""
        if isinstance(device_id, str):
            device_id = device_id.encode("utf-8")
        return self.hmac(b"ether-hello", nonce, device_id, struct.pack(">I", boot_id))[:PROOF]

    def seal(self, buf, start, n, direction, ctr, nonce):
        """Append the trailer to the body ``buf[start:start + n]`` in place; return the new body length."""
        c = struct.pack(">I", ctr)
        mac = self.hmac(nonce, direction, c, memoryview(buf)[start : start + n])
        end = start + n
        buf[end : end + 4] = c
        buf[end + 4 : end + TRAILER] = mac[:8]
        return n + TRAILER

    def open(self, body, n, direction, nonce, last_ctr):
        """Check the trailer of ``body[:n]``; return its counter if the MAC verifies and the counter is above
        ``last_ctr`` (-1 before the first), else -1. The body proper is then ``body[:n - TRAILER]``."""
        if n < TRAILER + 1:
            return -1
        m = n - TRAILER
        c = bytes(body[m : m + 4])
        mac = self.hmac(nonce, direction, c, memoryview(body)[:m])
        diff = 0
        for i in range(8):  # compare in constant time
            diff |= mac[i] ^ body[m + 4 + i]
        ctr = struct.unpack(">I", c)[0]
        if diff or ctr <= last_ctr:
            return -1
        return ctr


def start(node, key):
    """Make ``node`` keyed (``Node(..., key=...)``): its key, nonce and counters (ether_lite.node)."""
    node._key = Key(key)
    node._nonce = b""  # until the host's first QUERY [9, nonce]
    node._tx = 0  # counter of the next frame sent
    node._rx = -1  # counter of the last frame taken
    node._sess = 0  # sessions taken this boot (said in HELLO; host -> device MACs cover it)
    node._hnonce = b""  # what host -> device MACs cover besides the nonce: nonce, boot_id, session
    node.refused = 0  # frames dropped because their trailer did not verify


def received(node, body, n):
    """Check a received keyed frame: the length of its body proper, or -1 when it was dropped (counted
    in ``node.refused``) or was the QUERY ``[9, nonce]`` that starts a session (answered here)."""
    q = n == 11 + TRAILER and body[0] == 0x82 and body[1] == 9 and body[2] == 0x48  # [9, 8 bytes]
    nonce = bytes(body[3:11]) if q else node._hnonce
    new = q and nonce != node._nonce  # a copy of the QUERY that started this session continues it
    ctr = node._key.open(body, n, HOST, nonce, -1 if new else node._rx)
    if ctr < 0:
        node.refused += 1
        return -1
    node._rx = ctr
    if q:
        if new:
            node._nonce = nonce
            node._tx = 0
            node._sess += 1
            node._hnonce = nonce + struct.pack(">II", node.boot_id, node._sess)
        node.hello()
        return -1
    return n - TRAILER
