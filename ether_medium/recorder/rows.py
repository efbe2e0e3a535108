"""What the recorder keeps of a message: which topics it records (:class:`TopicSelection`) and the values of a
message's row (:func:`row_parser`, which cuts the payload's bytes out of the body where it can)."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from typing import Any

import cbor2

from ether_medium import topics
from ether_medium.fabric.envelope import (
    device_payload,
    plain_payload,
    source_prefix,
)

__all__ = ["TopicSelection", "row_parser"]

_INF = float("inf")


class TopicSelection:
    """Which topics the recorder keeps, and the ZeroMQ prefixes it must subscribe to for them."""

    def __init__(self, globs: Sequence[str]) -> None:
        self.globs = list(globs)
        self._lifecycle_globs = [g for g in self.globs if g.startswith("Ether")]

    def records(self, topic: str) -> bool:
        if topic.startswith("Ether."):
            if topic in topics.ALWAYS_RECORDED:
                return True
            if topic.startswith(topics.RECORDER_PREFIX):
                return False
            return any(fnmatch.fnmatchcase(topic, g) for g in self._lifecycle_globs)
        return any(fnmatch.fnmatchcase(topic, g) for g in self.globs)

    def prefixes(self) -> list[bytes]:
        """ZeroMQ subscriptions (prefix match) covering every selected topic and the lifecycle topics."""
        out = {b"Ether."}
        for glob in self.globs:
            cut = min((i for i, ch in enumerate(glob) if ch in "*?["), default=len(glob))
            out.add(glob[:cut].encode())
        if b"" in out:
            return [b""]
        return sorted(out)


def row_parser() -> Callable[[str, bytes], tuple[Any, ...]]:
    """A function giving the values of a data message's row (:data:`~ether_medium.recorder.schema.ROW_WIDTH`
    of them) from its topic and body; it raises when the body is not a valid envelope with a map payload.

    The body is decoded once (C code) for the header fields. The payload is stored as the bytes the publisher
    encoded, cut out of the body, when the body has the layout of
    :func:`~ether_medium.fabric.envelope.encode_plain`
    (``{d, s, q, t}``) or :func:`~ether_medium.fabric.envelope.encode_device` (``{d, s, q, t, dt, du, dq}``):
    a
    definite map of exactly those keys, ``d`` first, and the body ends with exactly the bytes those encoders
    write for the decoded ``s``, ``q``, ``t`` (...) values. Then the payload is everything between the ``d``
    key and that tail: any other encoding of those fields (another key order, a float32 time, a longer
    integer or string header) ends in different bytes. Any other body has its payload encoded again
    (``cbor2.dumps``), which gives the same bytes for what the fabric's encoders wrote."""
    prefixes: dict[str, bytes] = {}
    loads, dumps = cbor2.loads, cbor2.dumps

    def prefix_of(source: str) -> bytes:
        if len(prefixes) > 10_000:  # a publisher inventing names must not grow this forever
            prefixes.clear()
        prefix = prefixes[source] = source_prefix(source)
        return prefix

    def row(topic: str, body: bytes) -> tuple[Any, ...]:
        msg = loads(body)
        data = msg["d"]
        if type(data) is not dict:
            raise TypeError("payload is not a map")
        source, seq, host_time = msg["s"], msg["q"], msg["t"]
        if type(source) is not str:
            source = str(source)
        if type(seq) is not int:
            seq = int(seq)
        if type(host_time) is not float:
            host_time = float(host_time)
        if not -_INF < host_time < _INF:
            raise ValueError(f"host time {host_time} is not a finite number")
        if len(msg) == 4:
            payload = plain_payload(body, prefixes.get(source) or prefix_of(source), seq, host_time)
            return topic, source, seq, host_time, None, None, None, payload or dumps(data)
        dt, du, dq = msg.get("dt"), msg.get("du"), msg.get("dq")
        if dt is not None:  # a device row: its fields must be numbers
            dt = float(dt)
            du = None if du is None else float(du)
            dq = None if dq is None else int(dq)
            if len(msg) == 7 and du is not None and dq is not None:
                prefix = prefixes.get(source) or prefix_of(source)
                payload = device_payload(body, prefix, seq, host_time, dt, du, dq)
                if payload is not None:
                    return topic, source, seq, host_time, dt, du, dq, payload
        return topic, source, seq, host_time, dt, du, dq, dumps(data)

    return row
