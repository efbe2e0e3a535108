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
  ``t``  ``host_time``                   host clock (``time.time()``) when it entered the fabric
  ``dt`` ``device_time``                 device time mapped to the host clock, seconds (devices only)
  ``du`` ``device_uncertainty``          uncertainty of that mapping, seconds (devices only)
  ``dq`` ``device_seq``                  the device's own sequence number for the topic (devices only)
  ``r``  ``reply_to``                    for requests: the topic the answer is published to
  ``i``  ``request_id``                  for requests and replies: pairs an answer with its request
  ``e``  ``error``                       for replies: why the request failed (then ``d`` is empty)
  ====== =============================== ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cbor2

__all__ = ["Envelope", "EnvelopeError", "decode", "encode"]


class EnvelopeError(ValueError):
    """A fabric message that is not ``[topic, CBOR map]`` with the fields above."""


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


def decode(frames: list[bytes]) -> Envelope:
    """Parse two received frames; raises :class:`EnvelopeError` saying what was wrong."""
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
    if not isinstance(body, dict):
        raise EnvelopeError(f"body of {topic!r} is {type(body).__name__}, expected a map")
    try:
        data = body["d"]
        if not isinstance(data, dict):
            raise EnvelopeError(f"payload of {topic!r} is {type(data).__name__}, expected a map")
        env = Envelope(topic, data, str(body["s"]), int(body["q"]), float(body["t"]))
    except KeyError as exc:
        raise EnvelopeError(f"message on {topic!r} lacks field {exc.args[0]!r}") from exc
    for key, attr in _OPTIONAL:
        if key in body:
            setattr(env, attr, body[key])
    return env
