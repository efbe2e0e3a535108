"""The runtime inside an instance process: construct the user's object, wire its decorated methods to the
fabric, run its lifecycle, dispatch messages until ``Ether.shutdown``.

Lifecycle (each phase at most once per process, in this order):

1. construct ``class_path(*args, **kwargs)``; subscribe, :meth:`FabricClient.handshake`, ``Ether.ready``;
2. ``Ether.init``: ``ether_init`` handlers; ack ``Ether.done`` (``tap`` returns after every ack, so a recorder
   started first sees what init handlers publish);
3. ``Ether.start``: ``ether_start`` handlers, then the periodic publishers (``ether_pub(every=...)``,
   :mod:`ether_medium.fabric.schedule`) begin. A process restarted after a crash runs the phases the system
   has already passed (``catch_up`` in its spec) by itself right after ``Ether.ready``;
4. ``Ether.save``: the periodic publishers stop; ``ether_save`` handlers, each returned dict published on
   ``Ether.saved``; ack ``Ether.done``;
5. ``Ether.cleanup``: ``ether_cleanup`` handlers; ack ``Ether.done``;
6. ``Ether.shutdown``: any phase not run yet, then ``ether_shutdown`` handlers; ``Ether.bye``; exit.

A message that fails validation, a handler that raises, a return value that cannot be published: each is
logged (topic, sender, field, reason) and the process carries on.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import inspect
import logging
import math
import os
import sys
import time
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cbor2
import zmq

from ether_medium import topics
from ether_medium.errors import ClassPathError, EnvelopeError, SetupError
from ether_medium.fabric.client import FabricClient
from ether_medium.fabric.decorators import (
    LIFECYCLE,
    EtherMethod,
    apply_registry,
    ether_methods,
    set_publish_hook,
)
from ether_medium.fabric.envelope import Envelope, decode
from ether_medium.fabric.failures import ErrorPolicy, FailureCounts, policy_for, run_with_retries
from ether_medium.fabric.rejections import RejectionLog
from ether_medium.fabric.schedule import Schedule
from ether_medium.fabric.validation import (
    MessageRejected,
    UnpublishableResult,
    return_checker,
    subscriber_model,
)
from ether_medium.problems import ProblemLog, kind_of
from ether_medium.topics import Phase

__all__ = ["InstanceRuntime", "load_class"]

log = logging.getLogger("ether")



def load_class(class_path: str, where: str) -> type:
    module_name, _, class_name = class_path.rpartition(".")
    if not module_name:
        raise ClassPathError(f"{where}: {class_path!r} is not of the form module.ClassName")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ClassPathError(
            f"{where}: cannot import module {module_name!r} of {class_path!r}: {exc}"
        ) from exc
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise ClassPathError(f"{where}: module {module_name!r} has no class {class_name!r}")
    return cls


def apply_registry_config(registry: dict[str, Any]) -> None:
    """Decorate the classes named in a ``registry:`` section (raw dict form) in this process."""
    for class_path, entry in registry.items():
        cls = load_class(class_path, f"registry.{class_path}")
        methods = entry.get("methods", {}) if isinstance(entry, dict) else {}
        for method in methods:
            if not callable(getattr(cls, method, None)):
                raise ClassPathError(
                    f"registry.{class_path}.methods.{method}: {class_path} has no method {method!r}"
                )
        apply_registry(cls, methods)


def _text(topic: str | bytes) -> str:
    return topic.decode(errors="replace") if isinstance(topic, bytes) else topic


def publish_return(client: FabricClient, meta: EtherMethod, result: Any) -> None:
    """Publish an ``ether_pub`` method's return value on its topics, or log why it cannot be published.
    ``None`` publishes nothing, unless the method is annotated ``-> None`` (then every call is an event:
    an empty message, as the seed's ``collect_result`` triggers ``summarize``)."""
    checker = meta.cache.get("return")
    if checker is None:
        checker = meta.cache["return"] = return_checker(meta.func)
        meta.cache["plain"] = getattr(checker, "plain", False)
        meta.cache["event"] = getattr(checker, "event", False)
    if result is None and not meta.cache["event"]:
        return
    try:
        # a dict from a method without a return annotation to check is published as it is
        data = result if type(result) is dict and meta.cache["plain"] else checker(result)
    except UnpublishableResult as exc:
        log.error(
            "%s: %s %s; nothing published on %s",
            client.name,
            meta.func.__qualname__,
            exc,
            ", ".join(repr(t) for t in meta.pub_topics),
        )
        return
    for topic in meta.pub_topics:
        try:
            client.publish_data(topic, data)
        except TypeError as exc:
            reason: Exception = exc
            if "numpy" in sys.modules:  # numpy arrays in fields: see fabric/arrays.py
                from ether_medium.fabric.arrays import publish_with_arrays

                try:
                    if publish_with_arrays(client, topic, data):
                        continue
                except TypeError as array_exc:
                    reason = array_exc
            log.error(
                "%s: %s returned a value that cannot be published on %r: %s",
                client.name,
                meta.func.__qualname__,
                topic,
                reason,
            )


@dataclass
class _Sub:
    meta: EtherMethod
    bound: Callable[..., Any]
    validate: Callable[[dict[str, Any]], dict[str, Any]]
    policy: ErrorPolicy


class InstanceRuntime:
    def __init__(
        self, client: FabricClient, spec: dict[str, Any], catch_up: list[Phase] | None = None
    ) -> None:
        self.client = client
        self.name = client.name
        self.spec = spec
        self.catch_up: list[Phase] = list(catch_up or [])
        self.listening = bool(spec.get("listening"))
        self.done: set[Phase] = set()
        self.obj: Any = None
        self.methods: dict[str, EtherMethod] = {}
        self.subs: dict[str, list[_Sub]] = {}
        self.gets: dict[str, list[_Sub]] = {}
        self.schedule = Schedule(self.name)
        self.failures = FailureCounts()
        self._ppid = os.getppid()
        self.rejections = RejectionLog(self.name, log, self._publish_health)
        self.problems = ProblemLog(log, self.name, interval_s=10.0)  # messages dropped, counted by kind
        self._subs_by_topic: dict[bytes, list[_Sub]] = {}

    # -- setting up ------------------------------------------------------------------------------------
    def construct(self) -> None:
        apply_registry_config(self.spec.get("registry") or {})
        class_path = self.spec["class_path"]
        cls = load_class(class_path, f"instances.{self.name}.class_path")
        args, kwargs = self.spec.get("args") or [], self.spec.get("kwargs") or {}
        try:
            self.obj = cls(*args, **kwargs)
        except Exception as exc:
            raise SetupError(
                f"instance {self.name!r}: {class_path}(*{args!r}, **{kwargs!r}) raised "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        self.methods = ether_methods(cls)
        for attr, meta in self.methods.items():
            # a method that publishes nothing is called without its wrapper (one call less per message)
            bound = getattr(self.obj, attr) if meta.pub_topics else types.MethodType(meta.func, self.obj)
            if meta.sub_topics or meta.get_topics:
                validate = subscriber_model(meta.func)
                where = f"instance {self.name!r}: {class_path}.{attr}"
                errors = self.spec.get("errors") or {}
                policy = policy_for(meta, self.obj, errors, self.failures, where)
                for topic in meta.sub_topics:
                    self.subs.setdefault(topic, []).append(_Sub(meta, bound, validate, policy))
                for topic in meta.get_topics:
                    self.gets.setdefault(topic, []).append(_Sub(meta, bound, validate, policy))
            if meta.every is not None:
                self._check_periodic(class_path, attr, meta)
                self.schedule.add(meta, bound)
        set_publish_hook(self.publish_result)
        self._subs_by_topic = {t.encode(): subs for t, subs in self.subs.items() if t not in topics.PHASES}

    def _check_periodic(self, class_path: str, attr: str, meta: EtherMethod) -> None:
        try:
            inspect.signature(meta.func).bind(self.obj)
        except TypeError as exc:
            raise SetupError(
                f"instance {self.name!r}: {class_path}.{attr} has @ether_pub(every={meta.every:g}), so the "
                f"instance calls it without arguments, but it cannot be called so ({exc}): give its "
                "parameters defaults"
            ) from None
        except ValueError:  # no signature to inspect (a builtin): the call will tell
            pass

    def subscribe(self) -> None:
        for topic in [*self.subs, *self.gets, *topics.PHASES]:
            self.client.subscribe(topic)

    # -- publishing ------------------------------------------------------------------------------------
    def _publish_health(self, report: dict[str, Any]) -> None:
        if not self.client.orphaned:
            self.client.publish(topics.HEALTH, report)

    def publish_result(self, obj: Any, meta: EtherMethod, result: Any) -> None:
        publish_return(self.client, meta, result)

    # -- lifecycle -------------------------------------------------------------------------------------
    def run_phase(self, phase: Phase) -> None:
        if phase in self.done:
            return
        self.done.add(phase)
        if phase in ("save", "cleanup", "shutdown"):
            self.schedule.stop()  # whatever the save handlers save is final: no periodic call after them
        for attr, meta in self.methods.items():
            if phase not in meta.phases:
                continue
            try:
                result = getattr(self.obj, attr)()
            except Exception:
                log.error(
                    "%s: %s handler %s raised:\n%s",
                    self.name,
                    phase,
                    meta.func.__qualname__,
                    traceback.format_exc().rstrip(),
                )
                continue
            if phase == "save" and result is not None:
                if isinstance(result, dict):
                    try:
                        self.client.publish(topics.SAVED, result)
                    except TypeError as exc:
                        log.error(
                            "%s: save handler %s returned data that cannot be published: %s",
                            self.name,
                            meta.func.__qualname__,
                            exc,
                        )
                elif not meta.pub_topics:
                    log.error(
                        "%s: save handler %s returned %s, expected a dict (or None); nothing saved",
                        self.name,
                        meta.func.__qualname__,
                        type(result).__name__,
                    )
        if phase == "start" and "save" not in self.done:
            started = frozenset(m for m in self.methods.values() if "start" in m.phases)
            self.schedule.start(skip_first=started)
        if phase in ("init", "save", "cleanup"):
            self.client.publish(topics.DONE, {"name": self.name, "phase": phase})

    # -- messages --------------------------------------------------------------------------------------
    def handle(self, env: Envelope) -> bool:
        """Dispatch one message; ``False`` once the process should exit."""
        topic = env.topic
        if env.reply_to is not None and topic in self.gets:
            self._answer(env)
            return True
        for sub in self.subs.get(topic, ()):
            self._deliver(sub, env)
        phase = topics.PHASES.get(topic)  # a user may subscribe to lifecycle topics too
        if phase is None:
            return True
        for p in LIFECYCLE[: LIFECYCLE.index(phase) + 1]:
            self.run_phase(p)  # phases run once each, in order, even if a message was missed
        return phase != "shutdown"

    def _deliver(self, sub: _Sub, env: Envelope) -> None:
        self._deliver_data(sub, env.data, env.topic, env.source)

    def _deliver_data(self, sub: _Sub, data: dict[str, Any], topic: str | bytes, source: Any) -> None:
        try:
            kwargs = sub.validate(data)
        except MessageRejected as exc:
            self.rejections.rejected(_text(topic), source, sub.meta.func.__qualname__, exc)
            with contextlib.suppress(Exception):  # counted by observers (ether status, the metrics)
                self.client.publish(topics.REJECTED, {
                    "name": self.name, "topic": _text(topic), "source": str(source),
                    "subscriber": sub.meta.func.__qualname__, "reason": "validation", "detail": str(exc),
                })
            return
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

    def _answer(self, env: Envelope) -> None:
        """Answer a request: ``{"value": ...}``, or an error whose data names the exception's type and this
        instance (``{"type": "ValueError", "by": name}``: the caller raises a typed
        :class:`~ether_medium.errors.RemoteError`)."""
        assert env.reply_to is not None
        sub = self.gets[env.topic][0]
        qualname = sub.meta.func.__qualname__
        try:
            kwargs = sub.validate(env.data)
        except MessageRejected as exc:
            log.error("%s: rejected request on %r from %r: %s", self.name, env.topic, env.source, exc)
            return self._refuse(env, exc, f"request rejected by {self.name}: {exc}")
        try:
            value = sub.bound(**kwargs)
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
            self.client.publish(env.reply_to, {"value": value}, request_id=env.request_id)
        except TypeError as exc:
            error = f"{self.name}: {qualname} returned a value that cannot be sent: {exc}"
            log.error("%s", error)
            self._refuse(env, UnpublishableResult(str(exc)), error)

    def _refuse(self, env: Envelope, exc: BaseException, error: str) -> None:
        self.failures.requests_failed += 1
        data = {"type": type(exc).__name__, "by": self.name}
        self.client.publish(env.reply_to or "", data, request_id=env.request_id, error=error)

    def loop(self) -> None:
        sock = self.client.socket
        sock.setsockopt(zmq.RCVTIMEO, 500)
        for env in self.client.take_pending():
            if not self.handle(env):
                return
        receive = self.receive
        schedule = self.schedule
        monotonic = time.monotonic
        noblock = int(zmq.NOBLOCK)
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
                frames = sock.recv_multipart(flags)
            except zmq.Again:
                if flags:  # nothing waiting: sleep until a message comes or the next beat is due
                    wait = schedule.next_due - monotonic()
                    if wait > 0:
                        sock.poll(min(500, math.ceil(wait * 1000)))
                    if monotonic() - checked < 0.5:
                        continue
                checked = monotonic()
                self.rejections.tick()
                if os.getppid() != self._ppid:
                    self.client.orphaned = True  # nobody to say bye to
                    return
                continue
            if not receive(frames):
                return

    def receive(self, frames: list[bytes]) -> bool:
        """Take one message off the fabric (any frames at all); ``False`` once the process should exit.
        A message that cannot be used is counted in :attr:`problems`, logged (rate-limited) and dropped."""
        try:
            # Hot path: a plain message (the four header fields only) on a subscribed topic goes straight
            # to the subscribers, without building an Envelope. Everything else takes the full path.
            if len(frames) == 2:
                subs = self._subs_by_topic.get(frames[0])
                if subs is not None:
                    try:
                        body = cbor2.loads(frames[1])
                    except Exception:
                        body = None
                    if type(body) is dict and len(body) == 4:
                        data = body.get("d")
                        if type(data) is dict:
                            for sub in subs:
                                self._deliver_data(sub, data, frames[0], body.get("s"))
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

    def run(self) -> int:
        start = time.monotonic()
        self.construct()
        self.subscribe()
        periodic = {t: b.period for b in self.schedule.beats for t in b.meta.pub_topics}  # topic -> every (s)
        self.client.join(
            self.listening, kind="instance", startup_s=round(time.monotonic() - start, 4), periodic=periodic
        )
        for phase in self.catch_up:
            self.run_phase(phase)
        # What exists now (the modules, the user's object; in a forked child the whole tap process's heap)
        # lives as long as the process: keep it out of the garbage collector's full passes, which otherwise
        # walk it all now and then and stall the loop for tens of milliseconds (periodic publishers overrun;
        # measured: 25 ms for a full pass over the heap of a pytest process).
        gc.freeze()
        self.loop()
        self.rejections.flush()
        set_publish_hook(None)
        counts = self.failures
        if counts.any():
            log.warning(
                "%s: %d messages failed in their subscriber after every try (%d handed to an error handler "
                "that raised), %d recovered by a retry (%d retries), %d requests answered with an error",
                self.name,
                counts.failed,
                counts.handler_failed,
                counts.recovered,
                counts.retried,
                counts.requests_failed,
            )
        rings = sys.modules.get("ether_medium.fabric.shm")  # this process published arrays: unlink them
        if rings is not None:
            rings.close_all()
        return 0
