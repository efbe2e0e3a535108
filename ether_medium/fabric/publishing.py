"""Publishing what an ``ether_pub`` method returns: the send side of a decorated method.

The method's wrapper (:mod:`ether_medium.fabric.decorators`) calls the process's publish hook with the return
value; in an instance process (and in the tap process) that hook is a :class:`ReturnPublisher`. The value is
checked against the method's return annotation (:func:`~ether_medium.fabric.validation.return_checker`,
built on the first call and kept in the method's record) and published on each of its topics. ``None``
publishes nothing, unless the method is annotated ``-> None`` (then every call is an event: an empty message,
as the seed's ``collect_result`` triggers ``summarize``). A value that cannot be published is logged with the
method and topic, and nothing is sent.

This is the hot path of a publishing instance: a dict returned by a method without a return annotation to
check goes to :meth:`FabricClient.publish_data` as it is, one call after the wrapper's.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from ether_medium.fabric.client import FabricClient
from ether_medium.fabric.decorators import EtherMethod
from ether_medium.fabric.validation import UnpublishableResult, return_checker

__all__ = ["ReturnPublisher", "publish_return"]

log = logging.getLogger("ether")


class ReturnPublisher:
    """The publish hook (:func:`~ether_medium.fabric.decorators.set_publish_hook`) of a process whose
    connection to the fabric is ``client``."""

    __slots__ = ("_publish", "client")

    def __init__(self, client: FabricClient) -> None:
        self.client = client
        self._publish = client.publish_data

    def __call__(self, obj: Any, meta: EtherMethod, result: Any) -> None:
        cache = meta.cache
        checker = cache.get("return")
        if checker is None:
            checker = cache["return"] = return_checker(meta.func)
            cache["plain"] = getattr(checker, "plain", False)
            cache["event"] = getattr(checker, "event", False)
        if type(result) is dict and cache["plain"]:
            data = result  # a dict from a method without a return annotation to check: as it is
        elif result is None and not cache["event"]:
            return
        else:
            try:
                data = checker(result)
            except UnpublishableResult as exc:
                log.error(
                    "%s: %s %s; nothing published on %s",
                    self.client.name,
                    meta.func.__qualname__,
                    exc,
                    ", ".join(repr(t) for t in meta.pub_topics),
                )
                return
        publish = self._publish
        for topic in meta.pub_topics:
            try:
                publish(topic, data)
            except TypeError as exc:
                self._unencodable(meta, topic, data, exc)

    def _unencodable(self, meta: EtherMethod, topic: str, data: dict[str, Any], exc: TypeError) -> None:
        """``data`` is not plain CBOR: publish its numpy arrays (:mod:`ether_medium.fabric.arrays`), or log
        why it cannot be published."""
        reason: Exception = exc
        if "numpy" in sys.modules:
            from ether_medium.fabric.arrays import publish_with_arrays

            try:
                if publish_with_arrays(self.client, topic, data):
                    return
            except TypeError as array_exc:
                reason = array_exc
        log.error(
            "%s: %s returned a value that cannot be published on %r: %s",
            self.client.name,
            meta.func.__qualname__,
            topic,
            reason,
        )


def publish_return(client: FabricClient, meta: EtherMethod, result: Any) -> None:
    """Publish an ``ether_pub`` method's return value on its topics through ``client`` (see the module
    docstring), or log why it cannot be published."""
    ReturnPublisher(client)(None, meta, result)
