"""Replay a recorded session into a running fabric, with the original spacing (scaled by ``speed``).

The envelopes go out as they were recorded: same topic, data, source, sequence number, host time and device
fields, so analysis code sees what it would have seen live. Lifecycle topics (``Ether.*``: a replayed
``Ether.shutdown`` would stop the fabric) are left out unless ``--topics`` names them with a glob that starts
with ``Ether``. The replayer connects an XPUB socket to the
broker's publish side; the broker sends it the subscriptions of the fabric, so it starts only once a
subscriber for one of the replayed topics exists (or ``wait_s`` passed) instead of publishing into the void.
"""

from __future__ import annotations

import fnmatch
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2
import zmq

from ether_medium.errors import FabricNotFound
from ether_medium.fabric.envelope import Envelope, encode
from ether_medium.fabric.statefile import find_fabric
from ether_medium.recorder.store import SessionInfo, Store

__all__ = [
    "FabricNotFound",
    "ReplaySummary",
    "fabric_publish_address",
    "replay",
    "replayed_topics",
]

def fabric_publish_address(explicit: str | None = None, project_dir: Path | None = None,
                           fabric: str | None = None) -> str:
    """The broker address publishers connect to: ``explicit`` (``--publish``), else ``$ETHER_PUBLISH``, else
    that of the running fabric ``fabric`` names (a session id or prefix, or a fabric file), or of the only
    one running (:func:`ether_medium.fabric.statefile.find_fabric`; on a terminal the user picks one of
    several)."""
    if explicit:
        return explicit
    if os.environ.get("ETHER_PUBLISH") and fabric is None:
        return os.environ["ETHER_PUBLISH"]
    try:
        found = find_fabric(fabric, project_dir)
    except FabricNotFound as exc:
        raise FabricNotFound(f"{exc}; or pass --publish ADDRESS (the broker's publish address)") from exc
    if not found.publish:
        raise FabricNotFound(
            f"{found.path} does not name the broker's publish address; pass --publish ADDRESS"
        )
    return found.publish


def replayed_topics(recorded: Sequence[str], globs: Sequence[str] | None) -> list[str]:
    """The recorded topics to replay: those matching ``globs`` (all when None), but lifecycle topics
    (``Ether.*``, such as ``Ether.shutdown``) only when a glob starting with ``Ether`` names them."""
    if globs is None:
        return [t for t in recorded if not t.startswith("Ether.")]
    lifecycle = [g for g in globs if g.startswith("Ether")]
    return [t for t in recorded
            if any(fnmatch.fnmatchcase(t, g) for g in (lifecycle if t.startswith("Ether.") else globs))]


@dataclass(slots=True)
class ReplaySummary:
    messages: int
    duration_s: float
    subscribed: bool  # a subscriber for a replayed topic was there when replay began


def _wait_for_subscriber(sock: zmq.Socket[bytes], topics: Sequence[str], wait_s: float) -> bool:
    wanted = [t.encode() for t in topics]
    seen: set[bytes] = set()
    deadline = time.monotonic() + wait_s
    while True:
        timeout_ms = max(0, int((deadline - time.monotonic()) * 1000))
        if not sock.poll(timeout_ms):
            return False
        msg = sock.recv()
        if msg[:1] == b"\x01":
            seen.add(msg[1:])
        if any(t.startswith(p) for t in wanted for p in seen):
            while sock.poll(0):  # the rest of the fabric's subscriptions arrived in the same batch
                sock.recv()
            return True


def _array_inliner(store: Store, session: SessionInfo) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    """What turns a payload's recorded arrays back into arrays to publish; ``None`` when the session has
    none (or numpy is not installed: then its arrays were never stored apart)."""
    try:
        from ether_medium.recorder.arrays import array_path, to_inline
    except ImportError:
        return None
    path = array_path(store.path, session.id)
    return (lambda data: to_inline(data, path)) if path.exists() else None


def replay(store: Store, session: SessionInfo, publish: str, *, speed: float = 1.0,
           topics: Sequence[str] | None = None, wait_s: float = 5.0) -> ReplaySummary:
    """Republish the session's messages (of topics matching ``topics`` globs, all when None) to the broker
    at ``publish``; the gap between two messages is the recorded gap divided by ``speed``."""
    if not speed > 0:
        raise ValueError(f"--speed must be greater than 0, not {speed}")
    selected = replayed_topics(store.topics(session.id), topics)
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    sock = ctx.socket(zmq.XPUB)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.setsockopt(zmq.LINGER, 10_000)
    sock.connect(publish)
    count = 0
    start = time.monotonic()
    arrays = _array_inliner(store, session)
    try:
        subscribed = bool(selected) and _wait_for_subscriber(sock, selected, wait_s)
        start = time.monotonic()
        first: float | None = None
        for _sid, topic, source, seq, host_time, dt, du, dq, payload in store.messages(session.id, selected):
            if first is None:
                first = host_time
            delay = start + (host_time - first) / speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            data = cbor2.loads(payload)
            if arrays is not None:  # recorded arrays (recorder/arrays.py) are republished inline
                data = arrays(data)
            sock.send_multipart(encode(Envelope(topic, data, source, seq, host_time,
                                                device_time=dt, device_uncertainty=du, device_seq=dq)))
            count += 1
    finally:
        sock.close()  # lingers until the queued messages are handed to the broker
    return ReplaySummary(count, time.monotonic() - start, subscribed)
