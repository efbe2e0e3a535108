"""What happens in an instance process when a subscriber (``@ether_sub``) raises: retries, then an error
handler; the failure is logged and counted either way, and the instance keeps running.

Which options apply, first match wins:

* retries / retry_delay: the decorator's (``@ether_sub(retries=2, retry_delay=0.5)``), else the config's
  ``errors:`` section (default 0 retries);
* the error handler: the decorator's ``on_error=`` (a method of the class by name, or ``"module:function"``),
  else the class's ``ether_on_error`` method, else the config's ``errors.on_error`` (``"module:function"``),
  else none. It is called as ``handler(message, exception)``: the message's data (a dict) and the exception
  of the last try.

A retry runs at once, or ``retry_delay`` seconds later; the instance handles nothing else meanwhile, so the
messages to one instance keep their order (a command retried later must not overtake the next one). A
message that does not fit the method's signature is rejected without a try (retrying cannot help) and goes
to no handler. An error handler that raises is logged and counted too.
"""

from __future__ import annotations

import importlib
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ether_medium.errors import SetupError
from ether_medium.fabric.decorators import EtherMethod

__all__ = ["INSTANCE_HANDLER", "ErrorPolicy", "FailureCounts", "policy_for", "run_with_retries"]

log = logging.getLogger("ether")

INSTANCE_HANDLER = "ether_on_error"  # a method of this name handles its class's subscriber failures

Handler = Callable[[dict[str, Any], BaseException], Any]


@dataclass
class FailureCounts:
    """Per instance process; logged at the end of the run when not all zero."""

    failed: int = 0  # messages whose handler raised on every try
    retried: int = 0  # extra tries made
    recovered: int = 0  # messages handled by a retry after a failed try
    handler_failed: int = 0  # error handlers that raised themselves
    requests_failed: int = 0  # ether_get requests answered with an error

    def any(self) -> bool:
        return bool(self.failed or self.retried or self.handler_failed or self.requests_failed)


@dataclass
class ErrorPolicy:
    retries: int = 0
    retry_delay: float = 0.0
    handler: Handler | None = None
    handler_name: str = ""
    counts: FailureCounts = field(default_factory=FailureCounts)


def _import_function(spec: str, where: str) -> Handler:
    module_name, _, func_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SetupError(
            f"{where}: cannot import module {module_name!r} of on_error {spec!r}: {exc}"
        ) from exc
    func = getattr(module, func_name, None)
    if not callable(func):
        raise SetupError(f"{where}: module {module_name!r} has no function {func_name!r} (on_error {spec!r})")
    return func  # type: ignore[no-any-return]


def _resolve(spec: str, obj: Any, where: str) -> Handler:
    if ":" in spec:
        return _import_function(spec, where)
    handler = getattr(obj, spec, None)
    if not callable(handler):
        raise SetupError(
            f"{where}: on_error={spec!r} names no method of {type(obj).__name__}; name a method of the class "
            "or a module-level function as 'module:function'"
        )
    return handler  # type: ignore[no-any-return]


def policy_for(
    meta: EtherMethod, obj: Any, errors: dict[str, Any], counts: FailureCounts, where: str
) -> ErrorPolicy:
    """The policy of one subscriber of ``obj``; ``errors`` is the config's ``errors:`` section (a dict).
    Raises :class:`SetupError` for a handler that cannot be found."""
    retries = meta.retries if meta.retries is not None else int(errors.get("retries") or 0)
    delay = meta.retry_delay if meta.retry_delay is not None else float(errors.get("retry_delay") or 0.0)
    handler: Handler | None = None
    name = ""
    if meta.on_error is not None:
        name = meta.on_error
        handler = _resolve(name, obj, f"{where} (@ether_sub on_error)")
    elif callable(getattr(obj, INSTANCE_HANDLER, None)):
        name = f"{type(obj).__name__}.{INSTANCE_HANDLER}"
        handler = getattr(obj, INSTANCE_HANDLER)
    elif errors.get("on_error"):
        name = str(errors["on_error"])
        handler = _import_function(name, f"{where} (errors.on_error in the config)")
    return ErrorPolicy(retries, delay, handler, name, counts)


def run_with_retries(
    policy: ErrorPolicy,
    call: Callable[..., Any],
    kwargs: dict[str, Any],
    first: Exception,
    data: dict[str, Any],
    who: str,
    context: str,
) -> None:
    """``call(**kwargs)`` raised ``first``: try again as ``policy`` says, then log, count and hand the last
    exception to the error handler. ``who`` names the instance and method (``"adder: Adder.add"``),
    ``context`` the message (``" on message 'Adder.add' from 'tester'"``)."""
    counts = policy.counts
    exc: Exception = first
    tries = 1
    while tries <= policy.retries:
        log.warning(
            "%s raised %s: %s%s (try %d of %d); trying again%s",
            who,
            type(exc).__name__,
            exc,
            context,
            tries,
            policy.retries + 1,
            f" in {policy.retry_delay:g} s" if policy.retry_delay else "",
        )
        if policy.retry_delay:
            time.sleep(policy.retry_delay)  # the asked-for pause; messages wait in order meanwhile
        tries += 1
        counts.retried += 1
        try:
            call(**kwargs)
        except Exception as again:
            exc = again
            continue
        counts.recovered += 1
        log.info("%s%s succeeded on try %d of %d", who, context, tries, policy.retries + 1)
        return
    counts.failed += 1
    log.error(
        "%s raised%s%s%s:\n%s",
        who,
        context,
        f" on each of {tries} tries" if tries > 1 else "",
        f"; handing it to {policy.handler_name}" if policy.handler is not None else "",
        "".join(traceback.format_exception(exc)).rstrip(),
    )
    if policy.handler is None:
        return
    try:
        policy.handler(data, exc)
    except Exception:
        counts.handler_failed += 1
        log.error(
            "%s%s: the error handler %s raised:\n%s",
            who,
            context,
            policy.handler_name,
            traceback.format_exc().rstrip(),
        )
