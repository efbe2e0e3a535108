"""The runtime inside an instance process: construct the user's object, wire its decorated methods to the
fabric, then run its lifecycle and dispatch messages until ``Ether.shutdown``.

The parts: :mod:`~ether_medium.fabric.classes` finds the class, :mod:`~ether_medium.fabric.publishing`
sends what ``ether_pub`` methods return, :mod:`~ether_medium.fabric.dispatch` is the receive loop and hands
messages to ``ether_sub`` methods, :mod:`~ether_medium.fabric.replies` answers ``ether_get`` requests,
:mod:`~ether_medium.fabric.lifecycle` runs the phases and :mod:`~ether_medium.fabric.schedule` the periodic
publishers. :class:`InstanceRuntime` builds them for one object and runs them.

A message that fails validation, a handler that raises, a return value that cannot be published: each is
logged (topic, sender, field, reason) and the process carries on.
"""

from __future__ import annotations

import gc
import inspect
import logging
import sys
import time
import types
from typing import Any

from ether_medium import topics
from ether_medium.errors import SetupError
from ether_medium.fabric.classes import apply_registry_config, load_class
from ether_medium.fabric.client import FabricClient
from ether_medium.fabric.decorators import EtherMethod, ether_methods, set_publish_hook
from ether_medium.fabric.dispatch import Dispatcher, Subscriber
from ether_medium.fabric.failures import FailureCounts, policy_for
from ether_medium.fabric.lifecycle import Lifecycle
from ether_medium.fabric.publishing import ReturnPublisher
from ether_medium.fabric.rejections import RejectionLog
from ether_medium.fabric.replies import Replier
from ether_medium.fabric.schedule import Schedule
from ether_medium.fabric.validation import subscriber_model
from ether_medium.problems import ProblemLog
from ether_medium.topics import Phase

__all__ = ["InstanceRuntime"]

log = logging.getLogger("ether")


class InstanceRuntime:
    def __init__(
        self, client: FabricClient, spec: dict[str, Any], catch_up: list[Phase] | None = None
    ) -> None:
        self.client = client
        self.name = client.name
        self.spec = spec
        self.catch_up: list[Phase] = list(catch_up or [])
        self.listening = bool(spec.get("listening"))
        self.obj: Any = None
        self.methods: dict[str, EtherMethod] = {}
        self.schedule = Schedule(self.name)
        self.failures = FailureCounts()
        self.rejections = RejectionLog(self.name, log, self._publish_health)
        self.lifecycle = Lifecycle(client, self.schedule)
        self.dispatcher = Dispatcher(
            client, self.lifecycle, Replier(client, self.failures), self.rejections, self.schedule
        )
        self.receive = self.dispatcher.receive  # one message (tests and the fuzzer feed it frames)
        self.run_phase = self.lifecycle.run_phase

    @property
    def problems(self) -> ProblemLog:
        """Messages dropped because they could not be used at all, counted by kind."""
        return self.dispatcher.problems

    # -- setting up ------------------------------------------------------------------------------------
    def construct(self) -> None:
        """Decorate the registry's classes, construct the user's object, bind its decorated methods."""
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
        self.lifecycle.obj, self.lifecycle.methods = self.obj, self.methods
        for attr, meta in self.methods.items():
            # a method that publishes nothing is called without its wrapper (one call less per message)
            bound = getattr(self.obj, attr) if meta.pub_topics else types.MethodType(meta.func, self.obj)
            if meta.sub_topics or meta.get_topics:
                validate = subscriber_model(meta.func)
                where = f"instance {self.name!r}: {class_path}.{attr}"
                policy = policy_for(meta, self.obj, self.spec.get("errors") or {}, self.failures, where)
                self.dispatcher.add(Subscriber(meta, bound, validate, policy))
            if meta.every is not None:
                self._check_periodic(class_path, attr, meta)
                self.schedule.add(meta, bound)
        set_publish_hook(ReturnPublisher(self.client))

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
        for topic in [*self.dispatcher.subs, *self.dispatcher.gets, *topics.PHASES]:
            self.client.subscribe(topic)

    def _publish_health(self, report: dict[str, Any]) -> None:
        if not self.client.orphaned:
            self.client.publish(topics.HEALTH, report)

    # -- running ---------------------------------------------------------------------------------------
    def loop(self) -> None:
        self.dispatcher.loop()

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
        self.dispatcher.loop()
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
