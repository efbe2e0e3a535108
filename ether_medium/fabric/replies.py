"""Answering ``ether.get`` requests in an instance process: the serving side of
:mod:`ether_medium.fabric.requests`.

A request is a message with ``reply_to`` and ``request_id`` on the topic of an ``@ether_get`` method. Its
data is validated against the method's signature, the method is called, and ``{"value": ...}`` is published
on ``reply_to`` with the same ``request_id``. A request that is rejected, a method that raises, a value that
cannot be sent: each is logged, counted (:attr:`FailureCounts.requests_failed`) and answered with an error
whose data names the exception's type and this instance (``{"type": "ValueError", "by": name}``), so the
caller raises a typed :class:`~ether_medium.errors.RemoteError` instead of waiting for its timeout.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

from ether_medium.fabric.client import FabricClient
from ether_medium.fabric.envelope import Envelope
from ether_medium.fabric.failures import FailureCounts
from ether_medium.fabric.validation import MessageRejected, UnpublishableResult

__all__ = ["Replier"]

log = logging.getLogger("ether")


class Replier:
    def __init__(self, client: FabricClient, failures: FailureCounts) -> None:
        self.client = client
        self.name = client.name
        self.failures = failures

    def answer(
        self,
        env: Envelope,
        method: Callable[..., Any],
        validate: Callable[[dict[str, Any]], dict[str, Any]],
        qualname: str,
    ) -> None:
        """Answer the request ``env`` with ``method`` (bound), its arguments checked by ``validate``."""
        try:
            kwargs = validate(env.data)
        except MessageRejected as exc:
            log.error("%s: rejected request on %r from %r: %s", self.name, env.topic, env.source, exc)
            return self._refuse(env, exc, f"request rejected by {self.name}: {exc}")
        try:
            value = method(**kwargs)
        except Exception as exc:
            log.error(
                "%s: %s raised on request %r from %r:\n%s",
                self.name,
                qualname,
                env.topic,
                env.source,
                traceback.format_exc().rstrip(),
            )
            return self._refuse(env, exc, f"{self.name}: {qualname} raised {type(exc).__name__}: {exc}")
        try:
            self.client.publish(env.reply_to or "", {"value": value}, request_id=env.request_id)
        except TypeError as exc:
            error = f"{self.name}: {qualname} returned a value that cannot be sent: {exc}"
            log.error("%s", error)
            self._refuse(env, UnpublishableResult(str(exc)), error)

    def _refuse(self, env: Envelope, exc: BaseException, error: str) -> None:
        self.failures.requests_failed += 1
        data = {"type": type(exc).__name__, "by": self.name}
        self.client.publish(env.reply_to or "", data, request_id=env.request_id, error=error)
