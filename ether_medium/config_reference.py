"""The reference of every YAML section and key, rendered from the pydantic models of
:mod:`ether_medium.config` (their docstrings, field types, defaults, bounds and descriptions), so the document
cannot drift from what the loader accepts. ``python -m ether_medium.config_reference >
docs/config-reference.md``
writes it; ``tests/test_config_reference.py`` fails when docs/config-reference.md is not what this renders.
"""

from __future__ import annotations

import inspect
import re
import sys
import types
import typing
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ether_medium.config import (
    ClusterConfig,
    CurveConfig,
    DeviceConfig,
    ErrorsConfig,
    EtherConfig,
    FabricConfig,
    InstanceConfig,
    LoggingConfig,
    MethodDecorations,
    MetricsConfig,
    NoOptions,
    PlacementConfig,
    PubOptions,
    RecordingConfig,
    RegistryEntry,
    Resources,
    RestartPolicy,
    SubOptions,
    TopicOptions,
)

__all__ = ["SECTIONS", "render"]

# (YAML path of the section, its model), in the order a reader meets them; NAME, CLASS and METHOD are the
# user's names
SECTIONS: list[tuple[str, type[BaseModel]]] = [
    ("(top level)", EtherConfig),
    ("instances.NAME", InstanceConfig),
    ("instances.NAME.restart", RestartPolicy),
    ("instances.NAME.placement (and devices.NAME.placement)", PlacementConfig),
    ("instances.NAME.placement.resources", Resources),
    ("registry.CLASS", RegistryEntry),
    ("registry.CLASS.methods.METHOD", MethodDecorations),
    ("registry.CLASS.methods.METHOD.ether_pub", PubOptions),
    ("registry.CLASS.methods.METHOD.ether_sub", SubOptions),
    ("registry.CLASS.methods.METHOD.ether_get", TopicOptions),
    ("registry.CLASS.methods.METHOD.ether_init (and the other lifecycle decorators)", NoOptions),
    ("devices.NAME", DeviceConfig),
    ("recording", RecordingConfig),
    ("logging", LoggingConfig),
    ("fabric", FabricConfig),
    ("metrics", MetricsConfig),
    ("fabric.curve", CurveConfig),
    ("errors", ErrorsConfig),
    ("cluster", ClusterConfig),
]

HEADER = """# Configuration reference

<!-- Generated from ether_medium/config.py by `python -m ether_medium.config_reference >
docs/config-reference.md`;
     tests/test_config_reference.py fails when this file is out of date. Do not edit it by hand. -->

A config is one YAML file. Every key is checked when it is loaded: an unknown key, a missing one or a value of
the wrong type stops `ether run` with the file, the key path and what was expected. `ether check CONFIG` also
imports every class and checks every device link and the recording path, without starting anything.

In the paths below, `NAME` is a name you choose (an instance's or a device's), `CLASS` a `module.ClassName`
and `METHOD` a method's name. A key shown as *required* has no default.
"""

_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def _anchor(path: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", path.lower()).replace(" ", "-")


def _model_link(model: type[BaseModel]) -> str:
    for path, m in SECTIONS:
        if m is model:
            return f"mapping ([`{path.split(' ')[0]}`](#{_anchor(path)}))"
    return "mapping"


def type_text(annotation: Any) -> str:
    """An annotation in a YAML user's words: ``string``, ``"never" or "always"``, ``list of any``..."""
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    if annotation is Any:
        return "any"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _model_link(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " or ".join(f'`"{a}"`' if isinstance(a, str) else f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_text(a) for a in args)
    if origin is list:
        return f"list of {type_text(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping of {type_text(args[0])} to {type_text(args[1])}" if args else "mapping"
    return str(annotation)


def _bounds(field: FieldInfo) -> str:
    words = []
    for item in field.metadata:
        for kind, attr, sign in (("Ge", "ge", "≥"), ("Gt", "gt", ">"), ("Le", "le", "≤"), ("Lt", "lt", "<")):
            if isinstance(item, getattr(annotated_types, kind)):
                words.append(f"{sign} {getattr(item, attr)}")
    return f" ({', '.join(words)})" if words else ""


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return "(its defaults)"
        return f"`{value!r}`".replace("'", '"')
    if field.default is PydanticUndefined:
        return "*required*"
    if field.default is None:
        return "`null`"
    if isinstance(field.default, str):
        return f'`"{field.default}"`'
    if isinstance(field.default, bool):
        return f"`{str(field.default).lower()}`"
    return f"`{field.default!r}`"


def _text(doc: str | None) -> str:
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", inspect.cleandoc(doc or ""))
    return re.sub(r"``([^`]+)``", r"`\1`", text).replace("\n", " ")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    out = [HEADER]
    for path, model in SECTIONS:
        out.append(f"## {path}\n")
        if model.__doc__:
            out.append(_text(model.__doc__) + "\n")
        rows = [(name, f) for name, f in model.model_fields.items() if not f.exclude]
        if not rows:
            out.append("No keys: write `{}`.\n")
            continue
        out.append("| key | type | default | description |")
        out.append("|-----|------|---------|-------------|")
        for name, field in rows:
            kind = type_text(field.annotation) + _bounds(field)
            out.append(f"| `{name}` | {_cell(kind)} | {_cell(_default(field))} | "
                       f"{_cell(_text(field.description))} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
