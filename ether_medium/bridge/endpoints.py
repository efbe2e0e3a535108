"""A device's endpoints as the fabric sees them: checked DESCRIBEs with a pydantic model each.

A DESCRIBE (PROTOCOL.md) names an endpoint (``"Thermometer.read"``), its direction and its fields as
``[name, type]`` pairs (``[name, type, default]`` for a subscriber parameter with a default: host code may
leave it out, the DELIVER then carries the default; a type such as ``"[i2"`` is an array:
:mod:`ether_medium.bridge.arrays`). Here it becomes an :class:`Endpoint`: the fabric topic
(the described name, or its rename from the config's ``topics:``), and a pydantic model with exactly those
fields (``extra="forbid"``), so data from the device is checked the way a host publisher's would be, and
what host code sends to a device subscriber is checked before it goes onto the link.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError, create_model

from ether_lite import protocol
from ether_medium.bridge.arrays import ARRAY_NAMES, from_device, from_device_any, to_device
from ether_medium.errors import DescribeError

__all__ = [
    "DescribeError", "Endpoint", "build_model", "endpoint_from_describe", "format_validation", "type_name",
]

_TYPES: dict[str, Any] = {
    "f": float, "i": int, "b": bool, "s": str, "y": bytes,
    # what host code sends a device: arrays as typed arrays the board reads (ether_medium.bridge.arrays)
    "a": Annotated[Any, PlainValidator(lambda v: to_device(v, None))],
    **{t: Annotated[Any, PlainValidator(partial(to_device, ftype=t))] for t in protocol.ARRAY_TYPES},
}
TYPE_NAMES = {"f": "float", "i": "int", "b": "bool", "s": "str", "y": "bytes", "a": "any", **ARRAY_NAMES}


def type_name(ftype: str) -> str:
    """How a DESCRIBE field type reads in a signature: ``"f"`` -> ``"float"``, ``"[i2"`` -> ``"int16[]"``; a
    board's declared typecode (``"[h"``) -> ``"array"``; anything else -> ``"any"``."""
    return TYPE_NAMES.get(ftype) or ("array" if ftype.startswith("[") else "any")


_FITS = {
    "i": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "b": lambda v: isinstance(v, bool),
    "s": lambda v: isinstance(v, str),
    "y": lambda v: isinstance(v, bytes),
}
MAX_NAME = 96


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


@dataclass(slots=True)
class Endpoint:
    topic_id: int
    name: str  # as described
    topic: str  # on the fabric (renamed or not)
    publishes: bool  # True: the device publishes (PUB); False: the device subscribes (DELIVER)
    fields: list[tuple[str, str]] | None  # None: not known yet (MicroPython); see PROTOCOL.md
    every_s: float | None
    model: type[BaseModel]
    field_names: tuple[str, ...] = field(default=())
    all_float: bool = False  # every field is "f" (the hot path of data_of)
    defaults: dict[str, Any] = field(default_factory=dict)  # field name -> default (optional fields)

    @property
    def method(self) -> str:
        """The method name on the device class (``"read"`` for ``"Thermometer.read"``)."""
        return self.name.rpartition(".")[2]

    def signature(self) -> str:
        if self.fields is None:
            args = "**kwargs" if not self.publishes else "fields not described yet"
        else:
            args = ", ".join(
                f"{n}: {TYPE_NAMES[t]}" + (f" = {self.defaults[n]!r}" if n in self.defaults else "")
                for n, t in self.fields
            )
        kind = "pub" if self.publishes else "sub"
        rate = f", every {self.every_s:g} s" if self.every_s else ""
        return f"{self.topic} ({kind} {args}{rate})"

    def data_of(self, values: list[Any]) -> dict[str, Any]:
        """The map a PUB's values make with the described fields (ints widened to float where a float is
        described); ValueError naming the field that does not fit. The hot path: plain type checks, the
        same ones the model makes."""
        assert self.fields is not None
        if self.all_float:  # the usual reading
            if len(values) == 1 and type(values[0]) is float:
                return {self.field_names[0]: values[0]}
            if all(type(v) is float for v in values):
                return dict(zip(self.field_names, values, strict=True))
        out = {}
        for (name, ftype), v in zip(self.fields, values, strict=True):
            if ftype == "f":
                if isinstance(v, int) and not isinstance(v, bool):
                    v = float(v)
                elif not isinstance(v, float):
                    raise ValueError(f"field {name!r} is described as float, got {v!r}")
            elif ftype == "a":
                v = from_device_any(v)  # a typed array becomes the fabric's array
            elif ftype[0] == "[":
                v = from_device(name, ftype, v)
            elif not _FITS[ftype](v):
                raise ValueError(f"field {name!r} is described as {TYPE_NAMES[ftype]}, got {v!r}")
            out[name] = v
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "name": self.name,
            "method": self.method,
            "direction": "pub" if self.publishes else "sub",
            "fields": None
            if self.fields is None
            else [[n, t, self.defaults[n]] if n in self.defaults else [n, t] for n, t in self.fields],
            "every_s": self.every_s,
        }


def build_model(
    topic: str, fields: list[tuple[str, str]] | None, defaults: dict[str, Any] | None = None
) -> type[BaseModel]:
    """The pydantic model of one endpoint's data (a map of field name to value); a field in ``defaults``
    may be left out (a default of None also admits None)."""
    model_name = "".join(c if c.isalnum() else "_" for c in topic)
    if fields is None:
        return create_model(model_name, __base__=_Open)
    defaults = defaults or {}
    spec: dict[str, Any] = {}
    for name, t in fields:
        if name not in defaults:
            spec[name] = (_TYPES[t], ...)
        elif defaults[name] is None:
            spec[name] = (_TYPES[t] | None, None)
        else:
            spec[name] = (_TYPES[t], defaults[name])
    return create_model(model_name, __base__=_Strict, **spec)


def _default_of(name: str, fname: str, ftype: str, default: Any) -> Any:
    """A described default, checked against its field's type (an int for a float field is widened; an
    array field's default can only be None)."""
    if default is None or ftype == "a":
        return default
    if ftype[0] == "[":
        raise DescribeError(
            f"{name}: the default {default!r} of array field {fname!r} can only be None: fix the parameter's "
            "default on the board"
        )
    if ftype == "f" and isinstance(default, int) and not isinstance(default, bool):
        return float(default)
    if (ftype == "f" and isinstance(default, float)) or (ftype != "f" and _FITS[ftype](default)):
        return default
    raise DescribeError(
        f"{name}: the default {default!r} of field {fname!r} is not of type {TYPE_NAMES[ftype]}: fix the "
        "parameter's default (or its annotation) on the board"
    )


def _check_name(name: str) -> None:
    if not name or len(name) > MAX_NAME:
        raise DescribeError(f"topic name {name!r} must be 1..{MAX_NAME} characters")
    if any(c.isspace() or not c.isprintable() for c in name):
        raise DescribeError(f"topic name {name!r} contains spaces or control characters")
    if name.startswith("Ether."):
        raise DescribeError(f"topic name {name!r} is reserved (Ether.* topics belong to the fabric)")


def endpoint_from_describe(msg: list[Any], renames: dict[str, str], n_endpoints: int | None) -> Endpoint:
    """Check a DESCRIBE (already shape-checked by ``protocol.check``) and build its endpoint."""
    _, topic_id, name, direction, fields, every_s = msg
    if n_endpoints is not None and topic_id >= n_endpoints:
        raise DescribeError(f"topic id {topic_id} is outside 0..{n_endpoints - 1} announced in HELLO")
    _check_name(name)
    topic = renames.get(name, name)
    if topic != name:
        _check_name(topic)
    pairs: list[tuple[str, str]] | None = None
    defaults: dict[str, Any] = {}
    if fields is not None:
        pairs = []
        seen: set[str] = set()
        for f in fields:
            fname, ftype = f[0], f[1]
            if not fname.isidentifier() or keyword.iskeyword(fname) or fname.startswith("_"):
                raise DescribeError(f"{name}: field name {fname!r} is not a usable Python identifier")
            if fname in seen:
                raise DescribeError(f"{name}: field {fname!r} is described twice")
            seen.add(fname)
            pairs.append((fname, ftype))
            if len(f) == 3:
                defaults[fname] = _default_of(name, fname, ftype, f[2])
    if every_s is not None and not every_s >= 0:
        raise DescribeError(f"{name}: every_s {every_s!r} must be a non-negative number of seconds")
    return Endpoint(
        topic_id=topic_id,
        name=name,
        topic=topic,
        publishes=direction == protocol.DEVICE_PUBLISHES,
        fields=pairs,
        every_s=None if every_s is None else float(every_s),
        model=build_model(topic, pairs, defaults),
        field_names=tuple(n for n, _ in pairs) if pairs is not None else (),
        all_float=pairs is not None and all(t == "f" for _, t in pairs),
        defaults=defaults,
    )


def format_validation(exc: ValidationError) -> str:
    """``field: reason; field: reason`` from a pydantic error, short enough for one log line."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "<data>"
        msg = "unexpected field" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(
            f"{loc}: {msg} (got {err.get('input')!r})" if err["type"] != "missing" else f"{loc}: missing"
        )
    return "; ".join(parts)
