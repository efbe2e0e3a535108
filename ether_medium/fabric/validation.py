"""Message validation: a subscriber's signature becomes a pydantic model; a publisher's return value is
checked against its return annotation and turned into the map that goes on the fabric.

Errors are :class:`MessageRejected` / :class:`UnpublishableResult` with a message that names the field and
the reason; the instance runtime adds topic and sender and logs them.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

from cbor2 import CBORTag
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model

from ether_medium.errors import ArrayError, MessageRejected, UnpublishableResult

__all__ = ["MessageRejected", "UnpublishableResult", "describe_errors", "payload_of", "subscriber_model"]


def describe_errors(exc: ValidationError, values: bool = True) -> str:
    """Each error's field and reason, with the value received unless ``values`` is false."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "<message>"
        value = err.get("input")
        is_array = hasattr(value, "dtype") and hasattr(value, "shape")  # not its repr: a megabyte of text
        shown = f"{value.dtype} array of shape {value.shape}" if is_array else f"{value!r:.80}"
        got = f" (got {shown})" if values else ""
        parts.append(f"field {where!r}: {err['msg']}{got}")
    return "; ".join(parts)


def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func, include_extras=True)  # Annotated constraints (ArraySpec) kept
    except Exception:  # unresolvable forward references: fall back to no annotations
        return {}


def subscriber_model(func: Callable[..., Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A function that validates a message's data for ``func`` and returns its keyword arguments.

    Parameters without annotation accept anything; parameters without default are required; fields the
    signature does not name are ignored unless the method takes ``**kwargs`` (then they are passed on).
    """
    sig = inspect.signature(func)
    hints = _hints(func)
    fields: dict[str, Any] = {}
    takes_extra = False
    params = list(sig.parameters.values())
    if params and params[0].name in ("self", "cls"):
        params = params[1:]
    for p in params:
        if p.kind is p.VAR_KEYWORD:
            takes_extra = True
            continue
        if p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
            continue
        ann = hints.get(p.name, Any)
        fields[p.name] = (ann, ... if p.default is p.empty else p.default)
    config = ConfigDict(extra="allow" if takes_extra else "ignore", arbitrary_types_allowed=True)
    model: type[BaseModel] = create_model(f"{func.__qualname__}.message", __config__=config, **fields)
    validator = model.__pydantic_validator__
    # Fast path: when every field is a plain scalar and the message has exactly the declared types, the model
    # would return the values unchanged, so they are passed on as they are (no model instance per message).
    plain = {name: ann for name, (ann, _) in fields.items() if ann in _SCALARS}
    fast = not takes_extra and len(plain) == len(fields)
    required = frozenset(name for name, (_, default) in fields.items() if default is ...)

    def validate(data: dict[str, Any]) -> dict[str, Any]:
        if fast:
            for key, value in data.items():
                ann = plain.get(key)
                kind = type(value)
                if ann is None or (kind is not ann and (ann is not Any or kind is CBORTag)):
                    break  # (an array arrives as a CBORTag: it becomes an ndarray below)
            else:
                if required <= data.keys():
                    return data
        try:
            data = _with_arrays(data)
            obj = validator.validate_python(data)
        except ArrayError as exc:
            raise MessageRejected(str(exc)) from None
        except ValidationError as exc:
            raise MessageRejected(describe_errors(exc), reason=describe_errors(exc, values=False)) from None
        out = obj.__dict__
        if takes_extra and obj.__pydantic_extra__:
            out = {**out, **obj.__pydantic_extra__}
        return out  # type: ignore[no-any-return]

    return validate


_SCALARS = (int, float, str, bool, bytes, Any)


def _with_arrays(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with its array fields as read-only ndarrays (see :mod:`ether_medium.fabric.arrays`)."""
    for value in data.values():
        if type(value) is CBORTag:
            from ether_medium.fabric.arrays import incoming

            return incoming(data)
    return data
_PLAIN = (inspect.Signature.empty, None, type(None), dict, Any, typing.Any)


def return_checker(func: Callable[..., Any]) -> Callable[[Any], dict[str, Any]]:
    """A function that turns ``func``'s return value into the data map to publish, or raises
    :class:`UnpublishableResult` saying why it cannot be published."""
    ann = _hints(func).get("return", inspect.Signature.empty)
    adapter: TypeAdapter[Any] | None = None
    if ann not in _PLAIN and typing.get_origin(ann) is not dict:
        try:
            adapter = TypeAdapter(ann)
        except Exception:
            adapter = None

    def check(value: Any) -> dict[str, Any]:
        if adapter is not None:
            try:
                value = adapter.validate_python(value)
            except ValidationError as exc:
                raise UnpublishableResult(
                    f"return value does not match the annotation {ann!r}: {describe_errors(exc)}"
                ) from None
        return payload_of(value)

    check.plain = adapter is None  # type: ignore[attr-defined]
    # a method declared to return nothing publishes an empty message per call (an event); any other
    # publisher that returns None publishes nothing
    check.event = ann is None or ann is type(None)  # type: ignore[attr-defined]
    return check


def payload_of(value: Any) -> dict[str, Any]:
    """The fabric data map for a publisher's return value: a dict as is, a pydantic model dumped, ``None``
    (from a method annotated ``-> None``: an event) as an empty map; anything else raises
    :class:`UnpublishableResult`."""
    if type(value) is dict:
        return value
    if value is None:
        return {}
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, dict):
        return dict(value)
    raise UnpublishableResult(
        f"returned {type(value).__name__} {value!r:.60}; "
        "a publisher must return a dict, a pydantic model or None"
    )
