"""Request/reply over the fabric: ``ether.get("Name.method", timeout=..., **params)``.

Each calling thread gets its own :class:`Requester` (a :class:`FabricClient` subscribed to a private reply
topic ``Ether.reply.<id>``), so any number of threads and processes can have requests in flight at once. A
request is a message on the service's topic with ``reply_to`` and ``request_id`` set; the instance that
serves it (``@ether_get``) publishes ``{"value": ...}`` on ``reply_to`` with the same id, or ``error`` (the
reason) with data ``{"type": exception class name, "by": instance name}``, which :meth:`Requester.get`
raises as a :class:`RemoteError` with ``remote_type`` and ``instance``.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from typing import Any

import zmq

from ether_medium.errors import RemoteError
from ether_medium.fabric.broker import BrokerAddresses
from ether_medium.fabric.client import FabricClient

__all__ = ["RemoteError", "Requester", "close_all", "requester_for"]


class Requester:
    def __init__(
        self, addresses: BrokerAddresses, name: str, context: zmq.Context[Any] | None = None
    ) -> None:
        token = uuid.uuid4().hex[:12]
        self.name = name
        self.reply_topic = f"Ether.reply.{token}"
        self.client = FabricClient(addresses, f"{name}.requester.{token}", context=context)
        self.client.subscribe(self.reply_topic)
        self.client.handshake()
        self._ids = itertools.count(1)

    def get(self, topic: str, timeout: float, params: dict[str, Any]) -> Any:
        request_id = next(self._ids)
        self.client.publish(topic, params, source=self.name, reply_to=self.reply_topic, request_id=request_id)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            env = self.client.recv(max(0.0, left)) if left > 0 else None
            if env is None:
                raise TimeoutError(
                    f"no answer to ether.get({topic!r}) within {timeout} s: is an instance with an "
                    f"@ether_get method on topic {topic!r} running (and not busy)?"
                )
            if env.request_id != request_id:
                continue  # a late answer to an earlier request that timed out
            if env.error is not None:
                kind, by = env.data.get("type"), env.data.get("by")
                raise RemoteError(
                    topic,
                    str(env.error),
                    kind if isinstance(kind, str) else None,
                    by if isinstance(by, str) else None,
                )
            return env.data.get("value")

    def close(self) -> None:
        self.client.close(bye=False)


_local = threading.local()
_all: list[Requester] = []
_all_lock = threading.Lock()


def close_all() -> None:
    """Close every requester of this process (``ether.shutdown`` calls it: no socket outlives the fabric)."""
    with _all_lock:
        reqs = list(_all)
        _all.clear()
    for req in reqs:
        req.close()


def requester_for(
    addresses: BrokerAddresses, name: str, context: zmq.Context[Any] | None = None
) -> Requester:
    """This thread's requester for the fabric at ``addresses`` (created on first use)."""
    req: Requester | None = getattr(_local, "requester", None)
    if req is None or req.client.addresses != addresses or req.client.closed:
        req = Requester(addresses, name, context)
        _local.requester = req
        with _all_lock:
            _all.append(req)
    return req
