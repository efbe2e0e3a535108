"""The decorators users put on their methods: ``ether_pub``, ``ether_sub``, ``ether_get`` and the lifecycle
decorators ``ether_init``, ``ether_start``, ``ether_save``, ``ether_cleanup``, ``ether_shutdown``.

Decorating changes nothing about how a method behaves when called: every decorator returns one thin wrapper
per method that calls the original and returns its value. Stacked decorators (in any order) share that
wrapper and add to its :class:`EtherMethod` record (``wrapper.__ether__``). Only inside a fabric process (an
instance process, or the tap process between ``tap`` and ``shutdown``) does the wrapper also publish the
return value of an ``ether_pub`` method, through the hook installed with :func:`set_publish_hook`.

A topic defaults to ``ClassName.method_name``. ``ether_pub(every=S)`` records a period: an instance process
calls the method every ``S`` seconds itself (:mod:`ether_medium.fabric.schedule`). Options that cannot work
raise :class:`~ether_medium.errors.DecoratorError` where the class is defined.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, overload

from ether_medium.errors import DecoratorError
from ether_medium.topics import LIFECYCLE, Phase

__all__ = [
    "LIFECYCLE",
    "EtherMethod",
    "ether_cleanup",
    "ether_get",
    "ether_init",
    "ether_methods",
    "ether_pub",
    "ether_save",
    "ether_shutdown",
    "ether_start",
    "ether_sub",
    "set_publish_hook",
]

F = TypeVar("F", bound=Callable[..., Any])

PublishHook = Callable[[Any, "EtherMethod", Any], None]
_publish_hook: PublishHook | None = None


def set_publish_hook(hook: PublishHook | None) -> None:
    """Install (or remove, with ``None``) what publishes ``ether_pub`` return values in this process."""
    global _publish_hook
    _publish_hook = hook


@dataclass(eq=False)
class EtherMethod:
    """What the decorators recorded about one method."""

    func: Callable[..., Any]
    name: str
    default_topic: str
    pub_topics: list[str] = field(default_factory=list)
    sub_topics: list[str] = field(default_factory=list)
    get_topics: list[str] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    every: float | None = None  # ether_pub(every=...): seconds between the calls the instance makes itself
    # ether_sub(retries=, retry_delay=, on_error=): None where not given (then the config's errors: apply)
    retries: int | None = None
    retry_delay: float | None = None
    on_error: str | None = None
    cache: dict[str, Any] = field(default_factory=dict)  # validators, built on first use


def _default_topic(func: Callable[..., Any]) -> str:
    qual = getattr(func, "__qualname__", func.__name__).split(".<locals>.")[-1]
    parts = qual.split(".")
    return ".".join(parts[-2:]) if len(parts) >= 2 else qual


def _record(func: Callable[..., Any]) -> tuple[Callable[..., Any], EtherMethod]:
    existing = getattr(func, "__ether__", None)
    if isinstance(existing, EtherMethod):
        return func, existing
    meta = EtherMethod(func, func.__name__, _default_topic(func))

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = func(*args, **kwargs)
        hook = _publish_hook
        if hook is not None and meta.pub_topics and args:
            hook(args[0], meta, result)
        return result

    wrapper.__ether__ = meta  # type: ignore[attr-defined]
    return wrapper, meta


Configure = Callable[[EtherMethod], None]


def _topic_decorator(kind: Literal["pub", "sub", "get"], configure: Configure | None = None) -> Any:
    def decorator(topic: Any = None) -> Any:
        if callable(topic):  # used bare: @ether_pub
            return decorator(None)(topic)

        def apply(func: F) -> F:
            wrapper, meta = _record(func)
            chosen = meta.default_topic if topic is None else str(topic)
            target = {"pub": meta.pub_topics, "sub": meta.sub_topics, "get": meta.get_topics}[kind]
            if chosen not in target:
                target.append(chosen)
            if configure is not None:
                configure(meta)
            return wrapper  # type: ignore[return-value]

        return apply

    return decorator


def _set_period(every: Any) -> Configure:
    def configure(meta: EtherMethod) -> None:
        where = getattr(meta.func, "__qualname__", meta.name)
        if isinstance(every, bool) or not isinstance(every, (int, float)) or not every > 0:
            raise DecoratorError(
                f"@ether_pub(every={every!r}) on {where}: every is the period in seconds, a number above 0 "
                "(every=0.1 calls the method ten times a second)"
            )
        if meta.every is not None and meta.every != float(every):
            raise DecoratorError(
                f"@ether_pub on {where}: two periods, every={meta.every} and every={every}; a method is "
                "called at one rate (publish on several topics from one ether_pub(every=...) stack instead)"
            )
        meta.every = float(every)

    return configure


def _phase_decorator(phase: Phase) -> Any:
    def decorator(func: Any = None) -> Any:
        if callable(func):  # used bare: @ether_start
            return decorator(None)(func)

        def apply(fn: F) -> F:
            wrapper, meta = _record(fn)
            if phase not in meta.phases:
                meta.phases.append(phase)
            return wrapper  # type: ignore[return-value]

        return apply

    return decorator


@overload
def ether_pub(topic: F) -> F: ...
@overload
def ether_pub(topic: str | None = None, every: float | None = None) -> Callable[[F], F]: ...
def ether_pub(topic: Any = None, every: float | None = None) -> Any:
    """Publish the method's return value (a dict or a pydantic model) on ``topic`` (default
    ``ClassName.method``) whenever the method runs inside a fabric process. ``None`` publishes nothing,
    except from a method annotated ``-> None``, whose every call publishes an empty message (an event).

    ``every`` (seconds): an instance process also calls the method itself (no arguments) on a fixed
    schedule, from ``Ether.start`` until ``ether.shutdown()`` begins; a call that would come due while the
    previous one still runs is skipped and counted as an overrun, never queued (docs/fabric.md)."""
    if every is None or callable(topic):
        return _topic_decorator("pub")(topic)
    return _topic_decorator("pub", _set_period(every))(topic)


def _set_failure_options(retries: Any, retry_delay: Any, on_error: Any) -> Configure:
    def configure(meta: EtherMethod) -> None:
        where = f"@ether_sub on {getattr(meta.func, '__qualname__', meta.name)}"
        if retries is not None:
            if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
                raise DecoratorError(
                    f"{where}: retries={retries!r}; expected how many times to run the method again after "
                    "it raised, an int >= 0"
                )
            _set_once(meta, "retries", retries, where)
        if retry_delay is not None:
            if isinstance(retry_delay, bool) or not isinstance(retry_delay, (int, float)) or retry_delay < 0:
                raise DecoratorError(
                    f"{where}: retry_delay={retry_delay!r}; expected seconds between tries, a number >= 0"
                )
            _set_once(meta, "retry_delay", float(retry_delay), where)
        if on_error is not None:
            if not isinstance(on_error, str) or not on_error.strip():
                raise DecoratorError(
                    f"{where}: on_error={on_error!r}; expected the name of a method of the class "
                    "('alert') or of a module-level function ('mypackage.alerts:notify')"
                )
            _set_once(meta, "on_error", on_error.strip(), where)

    return configure


def _set_once(meta: EtherMethod, attr: str, value: Any, where: str) -> None:
    old = getattr(meta, attr)
    if old is not None and old != value:
        raise DecoratorError(f"{where}: {attr}={old!r} and {attr}={value!r}; give it once")
    setattr(meta, attr, value)


@overload
def ether_sub(topic: F) -> F: ...
@overload
def ether_sub(
    topic: str | None = None,
    *,
    retries: int | None = None,
    retry_delay: float | None = None,
    on_error: str | None = None,
) -> Callable[[F], F]: ...
def ether_sub(
    topic: Any = None,
    *,
    retries: int | None = None,
    retry_delay: float | None = None,
    on_error: str | None = None,
) -> Any:
    """Call the method with each message on ``topic`` (default ``ClassName.method``) as keyword arguments,
    validated against the method's signature.

    When the method raises: it runs again up to ``retries`` times, ``retry_delay`` seconds apart (the
    instance handles nothing else meanwhile, so messages keep their order); after the last try the failure
    is logged and counted, and ``on_error`` (a method of the class by name, or ``"module:function"``) is
    called with the message (a dict) and the exception. Without these options the class's
    ``ether_on_error`` method, then the config's ``errors:`` section apply (docs/fabric.md)."""
    if callable(topic) or (retries is None and retry_delay is None and on_error is None):
        return _topic_decorator("sub")(topic)
    return _topic_decorator("sub", _set_failure_options(retries, retry_delay, on_error))(topic)


@overload
def ether_get(topic: F) -> F: ...
@overload
def ether_get(topic: str | None = None) -> Callable[[F], F]: ...
def ether_get(topic: Any = None) -> Any:
    """Answer ``ether.get(topic, **params)`` requests with the method's return value."""
    return _topic_decorator("get")(topic)


def _lifecycle_doc(phase: Phase, doc: str) -> Any:
    deco = _phase_decorator(phase)
    deco.__doc__ = doc
    deco.__name__ = f"ether_{phase}"
    return deco


ether_init: Any = _lifecycle_doc("init", "Call the method (no arguments) once the instance is constructed.")
ether_start: Any = _lifecycle_doc("start", "Call the method (no arguments) on ``ether.start()``.")
ether_save: Any = _lifecycle_doc(
    "save",
    "Call the method on ``ether.shutdown()`` first; a returned dict is published on ``Ether.saved``.",
)
ether_cleanup: Any = _lifecycle_doc("cleanup", "Call the method on ``ether.shutdown()`` after every save.")
ether_shutdown: Any = _lifecycle_doc("shutdown", "Call the method last, just before the process exits.")


def ether_methods(cls: type) -> dict[str, EtherMethod]:
    """The decorated methods of ``cls`` (its whole MRO), by attribute name."""
    out: dict[str, EtherMethod] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            meta = getattr(value, "__ether__", None)
            if isinstance(meta, EtherMethod):
                out[attr] = meta
            elif attr in out:
                del out[attr]  # overridden by an undecorated method
    return out


def apply_registry(cls: type, methods: dict[str, dict[str, dict[str, Any] | None]]) -> None:
    """Decorate ``cls``'s methods in place as a ``registry:`` entry says
    (``{method: {decorator: kwargs}}``)."""
    decorators: dict[str, Any] = {
        "ether_pub": ether_pub,
        "ether_sub": ether_sub,
        "ether_get": ether_get,
        "ether_init": ether_init,
        "ether_start": ether_start,
        "ether_save": ether_save,
        "ether_cleanup": ether_cleanup,
        "ether_shutdown": ether_shutdown,
    }
    for method_name, decos in methods.items():
        func = getattr(cls, method_name)
        for deco_name, kwargs in decos.items():
            if kwargs is None:
                continue
            func = decorators[deco_name](**kwargs)(func)
        setattr(cls, method_name, func)
