"""The decorators users put on their methods: ``ether_pub``, ``ether_sub``, ``ether_get`` and the lifecycle
decorators ``ether_init``, ``ether_start``, ``ether_save``, ``ether_cleanup``, ``ether_shutdown``.

Decorating changes nothing about how a method behaves when called: every decorator returns one thin wrapper
per method that calls the original and returns its value. Stacked decorators (in any order) share that
wrapper and add to its :class:`EtherMethod` record (``wrapper.__ether__``). Only inside a fabric process (an
instance process, or the tap process between ``tap`` and ``shutdown``) does the wrapper also publish the
return value of an ``ether_pub`` method, through the hook installed with :func:`set_publish_hook`.

A topic defaults to ``ClassName.method_name``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, overload

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


def _topic_decorator(kind: Literal["pub", "sub", "get"]) -> Any:
    def decorator(topic: Any = None) -> Any:
        if callable(topic):  # used bare: @ether_pub
            return decorator(None)(topic)

        def apply(func: F) -> F:
            wrapper, meta = _record(func)
            chosen = meta.default_topic if topic is None else str(topic)
            target = {"pub": meta.pub_topics, "sub": meta.sub_topics, "get": meta.get_topics}[kind]
            if chosen not in target:
                target.append(chosen)
            return wrapper  # type: ignore[return-value]

        return apply

    return decorator


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
def ether_pub(topic: str | None = None) -> Callable[[F], F]: ...
def ether_pub(topic: Any = None) -> Any:
    """Publish the method's return value (a dict, a pydantic model, or ``None`` for an empty message) on
    ``topic`` (default ``ClassName.method``) whenever the method runs inside a fabric process."""
    return _topic_decorator("pub")(topic)


@overload
def ether_sub(topic: F) -> F: ...
@overload
def ether_sub(topic: str | None = None) -> Callable[[F], F]: ...
def ether_sub(topic: Any = None) -> Any:
    """Call the method with each message on ``topic`` (default ``ClassName.method``) as keyword arguments,
    validated against the method's signature."""
    return _topic_decorator("sub")(topic)


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
