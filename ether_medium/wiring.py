"""The wiring of a config, read without starting anything: who publishes and who subscribes each topic, with
the fields each side declares, and the checks on it (``ether graph``, ``ether check``).

Instances' endpoints come from their classes (imported here, as the launcher would): a subscriber's fields
from its signature and annotations, a publisher's from its return annotation (a pydantic model or a
``TypedDict``; a plain ``dict`` declares none). Devices' endpoints come from the device class of a ``sim:``
link, read as source text (board code does not import on the desktop): a subscriber's parameters, a
publisher's ``fields=`` or the keys of the dict literals it returns.

:func:`check_wiring` reports subscribers no publisher feeds (errors), publishers nobody hears (warnings) and
fields a subscriber needs that a publisher does not send, or sends with another type (errors), each with the
file and the names involved.
"""

from __future__ import annotations

import ast
import inspect
import os
import sys
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from ether_medium import topics as fabric_topics
from ether_medium.config import EtherConfig
from ether_medium.fabric.classes import apply_registry_config, load_class
from ether_medium.fabric.decorators import EtherMethod, ether_methods

__all__ = ["Endpoint", "Problem", "check_wiring", "endpoints_of"]

Role = Literal["pub", "sub", "get"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    topic: str
    role: Role
    owner: str  # the instance's or device's name in the config
    where: str  # file:line and Class.method
    fields: dict[str, str] | None  # field -> type name ("any" when not annotated); None: not declared
    required: frozenset[str] = frozenset()
    device: bool = False
    method: str = ""
    trigger: bool = False  # a subscriber on its own method's default topic: called from outside, by name


@dataclass(frozen=True, slots=True)
class Problem:
    severity: Literal["error", "warning"]
    topic: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.topic}: {self.message}"


@dataclass(slots=True)
class _Found:
    endpoints: list[Endpoint] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _type_name(ann: Any) -> str:
    if ann is inspect.Parameter.empty or ann is Any:
        return "any"
    if isinstance(ann, type):
        return ann.__name__
    return str(ann).replace("typing.", "")


def _where(func: Any) -> str:
    try:
        path = os.path.relpath(inspect.getsourcefile(func) or "?")
        line = inspect.getsourcelines(func)[1]
    except (OSError, TypeError):
        return func.__qualname__  # type: ignore[no-any-return]
    return f"{path}:{line} {func.__qualname__}"


def _sub_fields(func: Any) -> tuple[dict[str, str], frozenset[str]]:
    try:
        hints = typing.get_type_hints(func)
    except Exception:
        hints = {}
    fields: dict[str, str] = {}
    required = set()
    for p in list(inspect.signature(func).parameters.values())[1:]:
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
            continue
        fields[p.name] = _type_name(hints.get(p.name, inspect.Parameter.empty))
        if p.default is p.empty:
            required.add(p.name)
    return fields, frozenset(required)


def _pub_fields(func: Any) -> dict[str, str] | None:
    try:
        ann = typing.get_type_hints(func).get("return")
    except Exception:
        return None
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return {n: _type_name(f.annotation) for n, f in ann.model_fields.items()}
    if isinstance(ann, type) and typing.is_typeddict(ann):
        return {n: _type_name(t) for n, t in typing.get_type_hints(ann).items()}
    return None


def _instance_endpoints(name: str, meta: EtherMethod) -> list[Endpoint]:
    func = meta.func
    where = _where(func)
    out = []
    for topic in meta.pub_topics:
        out.append(Endpoint(topic, "pub", name, where, _pub_fields(func), method=meta.name))
    sub_fields, required = _sub_fields(func)
    for topic in meta.sub_topics:
        out.append(Endpoint(topic, "sub", name, where, sub_fields, required, method=meta.name,
                            trigger=topic == meta.default_topic))
    for topic in meta.get_topics:
        out.append(Endpoint(topic, "get", name, where, sub_fields, required, method=meta.name))
    return out


def endpoints_of(cfg: EtherConfig) -> tuple[list[Endpoint], list[str]]:
    """Every endpoint of ``cfg``'s instances and (simulated) devices, and notes on what could not be read."""
    found = _Found()
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    apply_registry_config(cfg.raw.get("registry") or {})
    for name, inst in cfg.instances.items():
        cls = load_class(inst.class_path, f"instances.{name}.class_path")
        for meta in ether_methods(cls).values():
            found.endpoints.extend(_instance_endpoints(name, meta))
    for name, dev in cfg.devices.items():
        _device_endpoints(name, dev.link, dev.topics, found)
    return found.endpoints, found.notes


# -- devices, read from their source ---------------------------------------------------------------------
def _device_source(spec: str) -> str | None:
    module = spec.rpartition(":")[0]
    if module.endswith(".py"):
        return module if os.path.isfile(module) else None
    from ether_lite.sim.runner import DEVICES

    rel = module.replace(".", os.sep) + ".py"
    for base in (os.getcwd(), DEVICES):
        if os.path.isfile(path := os.path.join(base, rel)):
            return path
    return None


def _decorator(node: ast.expr) -> tuple[str, dict[str, ast.expr]] | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute):
        fn = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
        return fn, {k.arg: k.value for k in node.keywords if k.arg}
    if isinstance(node, ast.Name):
        return node.id, {}
    return None


def _literal_fields(node: ast.expr | None) -> dict[str, str] | None:
    try:
        value = ast.literal_eval(node) if node is not None else None
    except ValueError:
        return None
    if not isinstance(value, list | tuple):
        return None
    from ether_medium.bridge.endpoints import type_name

    out = {}
    for item in value:
        if isinstance(item, str):
            out[item] = "any"
        elif isinstance(item, list | tuple) and item:
            out[str(item[0])] = type_name(str(item[1]) if len(item) > 1 else "a")
    return out


def _returned_keys(fn: ast.FunctionDef) -> dict[str, str] | None:
    keys: dict[str, str] = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Dict):
            for k in node.value.keys:
                if isinstance(k, ast.Constant) and isinstance(k.value, str):
                    keys.setdefault(k.value, "any")
    return keys or None


def _device_endpoints(name: str, link: str, renames: dict[str, str], found: _Found) -> None:
    if not link.startswith("sim:"):
        found.notes.append(f"devices.{name}: a real board ({link}); its topics are known once it describes "
                           "them")
        return
    spec = link.removeprefix("sim:").partition("?")[0]
    path = _device_source(spec)
    class_name = spec.rpartition(":")[2]
    if path is None:
        found.notes.append(f"devices.{name}: cannot find the source of {spec!r}; its topics are not checked")
        return
    with open(path) as fh:
        tree = ast.parse(fh.read(), path)
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name), None)
    if cls is None:
        found.notes.append(f"devices.{name}: no class {class_name} in {path}")
        return
    rel = os.path.relpath(path)
    for fn in cls.body:
        if not isinstance(fn, ast.FunctionDef):
            continue
        for dec in fn.decorator_list:
            parsed = _decorator(dec)
            if parsed is None or parsed[0] not in ("ether_pub", "ether_sub"):
                continue
            kind, kwargs = parsed
            topic_node = kwargs.get("topic")
            described = (topic_node.value if isinstance(topic_node, ast.Constant) else None) or \
                f"{class_name}.{fn.name}"
            topic = renames.get(str(described), str(described))
            where = f"{rel}:{fn.lineno} {class_name}.{fn.name}"
            if kind == "ether_pub":
                fields = _literal_fields(kwargs.get("fields")) or _returned_keys(fn)
                found.endpoints.append(
                    Endpoint(topic, "pub", name, where, fields, device=True, method=fn.name)
                )
            else:
                args = fn.args.args[1:]
                n_default = len(fn.args.defaults)
                params = {a.arg: "any" for a in args}
                required = frozenset(a.arg for a in args[: len(args) - n_default])
                found.endpoints.append(
                    Endpoint(topic, "sub", name, where, params, required, device=True, method=fn.name)
                )


# -- checks ----------------------------------------------------------------------------------------------
def check_wiring(cfg: EtherConfig) -> list[Problem]:
    """The wiring problems of ``cfg`` (imports its instances' classes in this process)."""
    endpoints, _ = endpoints_of(cfg)
    return check_endpoints(endpoints)


def check_endpoints(endpoints: list[Endpoint]) -> list[Problem]:
    pubs: dict[str, list[Endpoint]] = {}
    subs: dict[str, list[Endpoint]] = {}
    for e in endpoints:
        (pubs if e.role == "pub" else subs).setdefault(e.topic, []).append(e)
    problems: list[Problem] = []
    for topic, receivers in sorted(subs.items()):
        if fabric_topics.is_fabric_topic(topic):
            continue
        for sub in receivers:
            if topic in pubs:
                for pub in pubs[topic]:
                    problems.extend(_mismatches(pub, sub))
            elif sub.role == "sub" and not sub.device and sub.trigger:
                problems.append(Problem("warning", topic, (
                    f"{sub.owner} ({sub.where}) subscribes, but nothing in this config publishes it (fine if "
                    "a script or `ether pub` does)")))
            elif sub.role == "sub" and not sub.device:
                problems.append(Problem("error", topic, (
                    f"{sub.owner} ({sub.where}) subscribes, but no instance or device of this config "
                    "publishes it; check the spelling, or add the publisher")))
    for topic, senders in sorted(pubs.items()):
        if topic not in subs and not fabric_topics.is_fabric_topic(topic):
            names = ", ".join(f"{p.owner} ({p.where})" for p in senders)
            problems.append(Problem("warning", topic, f"published by {names}, but nothing in this config "
                                    "subscribes (recording it may be all you want)"))
    return problems


def _mismatches(pub: Endpoint, sub: Endpoint) -> list[Problem]:
    if pub.fields is None or sub.fields is None:
        return []
    out = []
    missing = sorted(sub.required - pub.fields.keys())
    if missing:
        out.append(Problem("error", pub.topic, (
            f"{sub.owner} ({sub.where}) needs field(s) {', '.join(missing)}, which {pub.owner} ({pub.where}) "
            f"does not send (it sends {', '.join(pub.fields) or 'nothing'})")))
    for name, sub_type in sub.fields.items():
        pub_type = pub.fields.get(name)
        if pub_type is None or "any" in (pub_type, sub_type) or pub_type == sub_type:
            continue
        if (pub_type, sub_type) == ("int", "float"):
            continue  # pydantic takes an int for a float
        out.append(Problem("error", pub.topic, (
            f"field {name!r}: {pub.owner} ({pub.where}) sends {pub_type}, {sub.owner} ({sub.where}) "
            f"expects {sub_type}")))
    return out
