"""The receive side of an instance process: its loop takes messages off the fabric and hands each to the
subscribers of its topic, to the method that answers a request, or to the lifecycle.

:meth:`Dispatcher.loop` blocks in ``recv`` on the one SUB socket (no poller, no other thread) while no
periodic publisher is active; while one is, it reads without blocking and waits (``poll``) only until the
next beat is due. Every half second without a message it folds the rejection counts and checks that the tap
process is still there.

:meth:`Dispatcher.receive` is the hot path: a plain message (the four header fields only) on a subscribed
topic goes straight from the decoded body to the subscribers, without building an
:class:`~ether_medium.fabric.envelope.Envelope`; everything else takes the full path (:func:`decode`, its
header checks, :meth:`Dispatcher.handle`). A subscriber gets the message's data validated against its
signature (:mod:`ether_medium.fabric.validation`) as keyword arguments. A message that fails validation is
logged (folded by kind, :mod:`ether_medium.fabric.rejections`) and announced on ``Ether.rejected``; a
subscriber that raises is retried or handed to its error handler (:mod:`ether_medium.fabric.failures`); a
message that cannot be used at all is counted in :attr:`Dispatcher.problems`, logged (rate-limited) and
dropped. The process carries on in every case.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cbor2
import zmq

from ether_medium import topics
from ether_medium.errors import EnvelopeError
from ether_medium.fabric.client import FabricClient
from ether_medium.fabric.decorators import EtherMethod
from ether_medium.fabric.envelope import Envelope, decode
from ether_medium.fabric.failures import ErrorPolicy, run_with_retries
from ether_medium.fabric.lifecycle import Lifecycle
from ether_medium.fabric.rejections import RejectionLog
from ether_medium.fabric.replies import Replier
from ether_medium.fabric.schedule import Schedule
from ether_medium.fabric.validation import MessageRejected
from ether_medium.problems import ProblemLog, kind_of

__all__ = ["Dispatcher", "Subscriber"]

log = logging.getLogger("ether")

IDLE_S = 0.5  # the housekeeping period of the loop while no message comes


@dataclass(slots=True)
class Subscriber:
    """One decorated method bound to the user's object, with its validator and error policy."""

    meta: EtherMethod
    bound: Callable[..., Any]
    validate: Callable[[dict[str, Any]], dict[str, Any]]
    policy: ErrorPolicy


def _text(topic: str | bytes) -> str:
    return topic.decode(errors="replace") if isinstance(topic, bytes) else topic


class Dispatcher:
    def __init__(
        self,
        client: FabricClient,
        lifecycle: Lifecycle,
        replier: Replier,
        rejections: RejectionLog,
        schedule: Schedule,
    ) -> None:
        self.client = client
        self.name = client.name
        self.lifecycle = lifecycle
        self.replier = replier
        self.rejections = rejections
        self.schedule = schedule
        self.problems = ProblemLog(log, self.name, interval_s=10.0)  # messages dropped, counted by kind
        self.subs: dict[str, list[Subscriber]] = {}  # ether_sub methods by topic
        self.gets: dict[str, list[Subscriber]] = {}  # ether_get methods by topic (the first one answers)
        self._plain: dict[bytes, list[Subscriber]] = {}  # the hot path's table: user topics as bytes
        self._ppid = os.getppid()

    def add(self, sub: Subscriber) -> None:
        """Route the topics of ``sub``'s method to it (``ether_sub`` and ``ether_get`` topics)."""
        for topic in sub.meta.sub_topics:
            self.subs.setdefault(topic, []).append(sub)
            if topic not in topics.PHASES:
                self._plain[topic.encode()] = self.subs[topic]
        for topic in sub.meta.get_topics:
            self.gets.setdefault(topic, []).append(sub)

    # -- one message -----------------------------------------------------------------------------------
    def receive(self, frames: list[bytes]) -> bool:
        """Take one message off the fabric (any frames at all); ``False`` once the process should exit."""
        try:
            if len(frames) == 2:
                subs = self._plain.get(frames[0])
                if subs is not None:
                    try:
                        body = cbor2.loads(frames[1])
                    except Exception:
                        body = None
                    if type(body) is dict and len(body) == 4:
                        data = body.get("d")
                        if type(data) is dict:
                            self.deliver(subs, data, frames[0], body.get("s"))
                            return True
            try:
                env = decode(frames)
            except EnvelopeError as exc:
                why = f"dropped a malformed fabric message: {exc}"
                self.problems.report(kind_of(str(exc)), why, logging.ERROR)
                return True
            return self.handle(env)
        except Exception as exc:  # the last line of defence: one odd message must not end the process
            why = f"dropped a fabric message that raised {type(exc).__name__}: {exc}"
            self.problems.report("unhandled", why, logging.ERROR)
            return True

    def handle(self, env: Envelope) -> bool:
        """Dispatch one decoded message; ``False`` once the process should exit."""
        topic = env.topic
        if env.reply_to is not None and topic in self.gets:
            sub = self.gets[topic][0]
            self.replier.answer(env, sub.bound, sub.validate, sub.meta.func.__qualname__)
            return True
        subs = self.subs.get(topic)
        if subs:
            self.deliver(subs, env.data, topic, env.source)
        phase = topics.PHASES.get(topic)  # a user may subscribe to lifecycle topics too
        return True if phase is None else self.lifecycle.advance(phase)

    def deliver(self, subs: list[Subscriber], data: dict[str, Any], topic: str | bytes, source: Any) -> None:
        """Call each of ``subs`` with ``data``, a message on ``topic`` from ``source``."""
        for sub in subs:
            try:
                kwargs = sub.validate(data)
            except MessageRejected as exc:
                self._rejected(sub, topic, source, exc)
                continue
            try:
                sub.bound(**kwargs)
            except Exception as exc:
                run_with_retries(
                    sub.policy,
                    sub.bound,
                    kwargs,
                    exc,
                    data,
                    f"{self.name}: {sub.meta.func.__qualname__}",
                    f" on message {_text(topic)!r} from {source!r}",
                )

    def _rejected(self, sub: Subscriber, topic: str | bytes, source: Any, exc: MessageRejected) -> None:
        subscriber = sub.meta.func.__qualname__
        self.rejections.rejected(_text(topic), source, subscriber, exc)
        with contextlib.suppress(Exception):  # counted by observers (ether status, the metrics)
            self.client.publish(topics.REJECTED, {
                "name": self.name, "topic": _text(topic), "source": str(source),
                "subscriber": subscriber, "reason": "validation", "detail": str(exc),
            })  # fmt: skip

    # -- the loop --------------------------------------------------------------------------------------
    def loop(self) -> None:
        """Receive and dispatch until ``Ether.shutdown``, or until the tap process is gone."""
        sock = self.client.socket
        sock.setsockopt(zmq.RCVTIMEO, int(IDLE_S * 1000))
        for env in self.client.take_pending():
            if not self.handle(env):
                return
        receive = self.receive
        schedule = self.schedule
        monotonic = time.monotonic
        recv, more = sock.recv, sock.get  # recv_multipart without its keyword arguments: 0.25 us less
        noblock, rcvmore = int(zmq.NOBLOCK), int(zmq.RCVMORE)
        checked = monotonic()
        while True:
            # Periodic publishers (none, or not started: one attribute test per message) run between
            # messages; while they are active the socket is read without blocking and waited on (poll) only
            # until the next beat is due.
            if schedule.active:
                if schedule.next_due <= monotonic():
                    schedule.run_due()
                flags = noblock
            else:
                flags = 0
            try:
                frames = [recv(flags)]
            except zmq.Again:
                if flags:  # nothing waiting: sleep until a message comes or the next beat is due
                    wait = schedule.next_due - monotonic()
                    if wait > 0:
                        sock.poll(min(int(IDLE_S * 1000), math.ceil(wait * 1000)))
                    if monotonic() - checked < IDLE_S:
                        continue
                checked = monotonic()
                self.rejections.tick()
                if os.getppid() != self._ppid:
                    self.client.orphaned = True  # nobody to say bye to
                    return
                continue
            while more(rcvmore):  # the rest of a multipart message is there with its first frame
                frames.append(recv())
            if not receive(frames):
                return
