"""The fabric's message format: what travels through the ZeroMQ broker.

Every message is a two-frame ZeroMQ multipart message ``[topic, body]``:

* ``topic``: the topic name as UTF-8 bytes. ZeroMQ subscriptions match by prefix, so a receiver must
  compare the decoded topic for equality before dispatching.
* ``body``: one CBOR map (``cbor2``), the same data model the device protocol uses. Keys are short
  because this is the hot path:

  ====== =============================== ==========================================================
  key    field                           meaning
  ====== =============================== ==========================================================
  ``d``  ``data``                        the payload: a map of field name to value
  ``s``  ``source``                      who published it: an instance name or a device name
  ``q``  ``seq``                         the publisher's sequence number for this topic (from 0)
  ``t``  ``host_time``                   host clock (``time.time()``) when it entered the fabric (finite)
  ``dt`` ``device_time``                 device time mapped to the host clock, seconds (devices only)
  ``du`` ``device_uncertainty``          uncertainty of that mapping, seconds (devices only)
  ``dq`` ``device_seq``                  the device's own sequence number for the topic (devices only)
  ``r``  ``reply_to``                    for requests: the topic the answer is published to
  ``i``  ``request_id``                  for requests and replies: pairs an answer with its request
  ``e``  ``error``                       for replies: why the request failed (``d`` may name its type)
  ====== =============================== ==========================================================
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2

from ether_medium.errors import EnvelopeError
from ether_medium.problems import shown

__all__ = [
    "Envelope",
    "decode",
    "device_payload",
    "encode",
    "encode_device",
    "encode_plain",
    "plain_payload",
    "source_prefix",
]


@dataclass(slots=True)
class Envelope:
    topic: str
    data: dict[str, Any]
    source: str
    seq: int
    host_time: float
    device_time: float | None = None
    device_uncertainty: float | None = None
    device_seq: int | None = None
    reply_to: str | None = None
    request_id: int | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_OPTIONAL = (
    ("dt", "device_time"),
    ("du", "device_uncertainty"),
    ("dq", "device_seq"),
    ("r", "reply_to"),
    ("i", "request_id"),
    ("e", "error"),
)


def encode(env: Envelope) -> list[bytes]:
    """The two frames to send for ``env``."""
    body: dict[str, Any] = {"d": env.data, "s": env.source, "q": env.seq, "t": env.host_time}
    for key, attr in _OPTIONAL:
        value = getattr(env, attr)
        if value is not None:
            body[key] = value
    return [env.topic.encode(), cbor2.dumps(body)]


_pack_double = struct.Struct(">Bd").pack
_pack_times = struct.Struct(">3sd4sd4sd").pack  # "t", "dt", "du" with their float64 values: one call


def source_prefix(source: str) -> bytes:
    """The constant part of a body for ``source`` (see :func:`encode_plain`)."""
    return cbor2.dumps("s") + cbor2.dumps(source) + cbor2.dumps("q")


def encode_plain(data: dict[str, Any], prefix: bytes, seq: int, host_time: float) -> bytes:
    """The body of a message without optional fields, byte for byte what :func:`encode` produces
    (``{"d", "s", "q", "t"}`` in that order; cbor2 writes floats as float64), built without a dict: the
    publishers' hot path. ``prefix`` is :func:`source_prefix` of the source."""
    return b"".join((b"\xa4\x61d", cbor2.dumps(data), prefix, _seq_and_time(seq, host_time)))


def encode_device(
    data: dict[str, Any],
    prefix: bytes,
    seq: int,
    host_time: float,
    device_time: float,
    device_uncertainty: float,
    device_seq: int,
) -> bytes:
    """The body of a device reading (the bridge's hot path), byte for byte what :func:`encode` produces for
    an :class:`Envelope` with ``device_time``, ``device_uncertainty`` and ``device_seq`` set and no other
    optional field. ``prefix`` is :func:`source_prefix` of the device's name."""
    times = _pack_times(
        b"\x61t\xfb", host_time, b"\x62dt\xfb", device_time, b"\x62du\xfb", device_uncertainty
    )
    body = (b"\xa7\x61d", cbor2.dumps(data), prefix, _uint(seq), times, b"\x62dq", _uint(device_seq))
    return b"".join(body)


def _uint(n: int) -> bytes:
    """CBOR unsigned integer (major type 0), shortest form, as cbor2 writes it."""
    if n < 24:
        return _SMALL[n]
    if n < 0x100:
        return b"\x18" + n.to_bytes(1, "big")
    if n < 0x10000:
        return b"\x19" + n.to_bytes(2, "big")
    if n < 0x100000000:
        return b"\x1a" + n.to_bytes(4, "big")
    return b"\x1b" + n.to_bytes(8, "big")


_SMALL = [bytes([i]) for i in range(24)]
_U64 = 1 << 64


def _seq_and_time(seq: int, host_time: float) -> bytes:
    """``q``'s value, then ``"t"`` and its value, byte for byte as the encoders above write them (the integer
    in its shortest form, as :func:`_uint`; the time as float64), in one pack."""
    if seq < 24:
        return _QT[0](seq, b"\x61t", 0xFB, host_time)
    if seq < 0x100:
        return _QT[1](0x18, seq, b"\x61t", 0xFB, host_time)
    if seq < 0x10000:
        return _QT[2](0x19, seq, b"\x61t", 0xFB, host_time)
    if seq < 0x100000000:
        return _QT[3](0x1A, seq, b"\x61t", 0xFB, host_time)
    return _QT[4](0x1B, seq, b"\x61t", 0xFB, host_time)


_QT = tuple(struct.Struct(f">{fmt}2sBd").pack for fmt in ("B", "BB", "BH", "BI", "BQ"))


def plain_payload(body: bytes, prefix: bytes, seq: int, host_time: float) -> bytes | None:
    """The payload's CBOR bytes cut out of ``body`` when it has exactly the layout of :func:`encode_plain`
    for the decoded ``s`` (as its ``prefix``), ``q`` and ``t``; else None (the caller encodes the payload
    again). Any other encoding of those fields (another key order, a float32 time, a longer integer or
    string head) ends in other bytes, so a match is exact."""
    if body[:3] != b"\xa4\x61d" or not 0 <= seq < _U64:
        return None
    tail = prefix + _seq_and_time(seq, host_time)
    return body[3 : len(body) - len(tail)] if body.endswith(tail) else None


def device_payload(
    body: bytes, prefix: bytes, seq: int, host_time: float, device_time: float, uncertainty: float,
    device_seq: int,
) -> bytes | None:
    """As :func:`plain_payload`, for the layout of :func:`encode_device`."""
    if body[:3] != b"\xa7\x61d" or not (0 <= seq < _U64 and 0 <= device_seq < _U64):
        return None
    tail = (prefix + _seq_and_time(seq, host_time) + b"\x62dt" + _pack_double(0xFB, device_time)
            + b"\x62du" + _pack_double(0xFB, uncertainty) + b"\x62dq" + _uint(device_seq))
    return body[3 : len(body) - len(tail)] if body.endswith(tail) else None


def decode(frames: list[bytes]) -> Envelope:
    """Parse two received frames; raises :class:`EnvelopeError` saying what was wrong, and nothing else,
    whatever the bytes (a header value out of range, such as ``q`` = Infinity or ``t`` = 10**400, included).

    Header fields are checked: ``q`` and ``dq`` integers, ``t`` a finite number, ``dt`` and ``du`` numbers,
    ``r`` and ``e`` text, ``i`` an integer; a source that is not text is turned into text. Keys the envelope
    does not define are ignored."""
    if len(frames) != 2:
        raise EnvelopeError(f"expected 2 frames [topic, body], got {len(frames)}")
    try:
        topic = frames[0].decode()
    except UnicodeDecodeError as exc:
        raise EnvelopeError(f"topic is not UTF-8: {frames[0][:40]!r}") from exc
    try:
        body = cbor2.loads(frames[1])
    except Exception as exc:  # cbor2 raises several types for malformed input
        raise EnvelopeError(f"body of {topic!r} is not CBOR: {exc}") from exc
    if type(body) is not dict:
        raise EnvelopeError(f"body of {topic!r} is {type(body).__name__}, expected a map")
    try:
        data = body["d"]
        if type(data) is not dict:
            raise EnvelopeError(f"payload of {topic!r} is {type(data).__name__}, expected a map")
        source = body["s"]
        seq = int(body["q"])
        host_time = float(body["t"])
        if not math.isfinite(host_time):
            raise ValueError(f"host time {host_time} is not a finite number")
        env = Envelope(topic, data, source if type(source) is str else str(source), seq, host_time)
        if len(body) > 4:
            for key, attr in _OPTIONAL:
                value = body.get(key)
                if value is not None:
                    setattr(env, attr, _CHECK[key](value))
    except EnvelopeError:
        raise
    except KeyError as exc:
        raise EnvelopeError(f"message on {topic!r} lacks field {exc.args[0]!r}") from exc
    except Exception as exc:  # TypeError, ValueError, OverflowError, RecursionError (str of a deep value)
        raise EnvelopeError(f"message on {topic!r} has a malformed header field: {exc}") from exc
    return env


def _integer(value: Any) -> int:
    if type(value) is not int:
        raise TypeError(f"{type(value).__name__} {shown(value)} where an integer belongs")
    return value


def _number(value: Any) -> float:
    if type(value) not in (int, float):
        raise TypeError(f"{type(value).__name__} {shown(value)} where a number belongs")
    return float(value)


def _text(value: Any) -> str:
    if type(value) is not str:
        raise TypeError(f"{type(value).__name__} {shown(value)} where text belongs")
    return value


_CHECK = {"dt": _number, "du": _number, "dq": _integer, "r": _text, "i": _integer, "e": _text}
