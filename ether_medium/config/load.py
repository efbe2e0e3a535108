"""Reading a config: YAML (a duplicate key is an error), validated into :class:`EtherConfig`; every error
names the file, the key path and what was expected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ether_medium.config.model import _MODEL_NAMES, _SECTIONS, EtherConfig
from ether_medium.errors import ConfigError, DuplicateKeyError


def _key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _real_loc(raw: Any, loc: tuple[int | str, ...]) -> tuple[tuple[int | str, ...], Any, bool]:
    """``loc`` without pydantic's union-member parts (which are not keys of the YAML), the value found
    there, and whether the value exists."""
    real: list[int | str] = []
    node: Any = raw
    found = True
    for part in loc:
        if _is_member(part):
            continue
        if isinstance(node, dict) and part in node:  # noqa: SIM114 - separate branches narrow the index type for mypy
            node = node[part]
            real.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            real.append(part)
        elif isinstance(node, (dict, list)):
            real.append(part)  # a key that is missing (or extra) in the YAML
            found = False
            break
        # otherwise: a union member name like "literal['never', ...]" or "RestartPolicy": skip it
    return tuple(real), node, found


def _is_member(part: int | str) -> bool:
    """Whether a pydantic loc part names a union member rather than a YAML key."""
    return isinstance(part, str) and (part.startswith("literal[") or part in _MODEL_NAMES)


def _allowed_keys(parent: tuple[int | str, ...]) -> list[str] | None:
    for pattern, model in _SECTIONS:
        if len(pattern) == len(parent) and all(
            p == "*" or p == q for p, q in zip(pattern, parent, strict=True)
        ):
            return [name for name, f in model.model_fields.items() if not f.exclude]
    return None


def _describe(raw: dict[str, Any], err: Any) -> tuple[str, str]:
    loc, value, found = _real_loc(raw, tuple(err["loc"]))
    path = _key_path(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        hint = (
            f"; expected one of: {', '.join(allowed)}" if allowed else "; expected no options here: write {}"
        )
        return path, f"unknown key (check its spelling and indentation){hint}"
    if kind == "missing":
        return path, "required key is missing"
    if kind == "value_error":
        return path, str(err["msg"]).removeprefix("Value error, ")
    got = f", got {value!r:.80}" if found else ""
    msg = str(err["msg"])
    msg = "expected " + msg.removeprefix("Input should be ") if msg.startswith("Input should be") else msg
    return path, f"{msg}{got}"


def _relevant(raw: dict[str, Any], errors: list[Any]) -> list[Any]:
    """Drop the errors of union members that do not apply to the given value's kind (a mapping given where
    a word or a mapping is allowed is checked as a mapping only, and the other way round)."""
    out = []
    for err in errors:
        loc = tuple(err["loc"])
        member = next((i for i, p in enumerate(loc) if _is_member(p)), None)
        if member is not None:
            _, value, found = _real_loc(raw, loc[:member])
            literal = str(loc[member]).startswith("literal[")
            if found and isinstance(value, dict) == literal:
                continue
        out.append(err)
    return out or errors


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (:class:`DuplicateKeyError`).
    Keys merged in with ``<<:`` may be overridden, as YAML intends."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise DuplicateKeyError(key, line, seen[key])
            seen[key] = line
        return super().construct_mapping(node, deep)


def read_config(config: str | Path | dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Where a config comes from (its path, or ``<dict>``) and its raw mapping, not yet validated."""
    if isinstance(config, dict):
        return "<dict>", config
    source = str(config)
    try:
        text = Path(config).read_text()
    except OSError as exc:
        raise ConfigError(source, [f"cannot read the file: {exc.strerror}"]) from exc
    try:
        raw = yaml.load(text, Loader=UniqueKeyLoader) or {}  # a SafeLoader
    except DuplicateKeyError as exc:
        raise ConfigError(source, [str(exc)]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"not valid YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise ConfigError(source, [f"expected a mapping at the top level, got {type(raw).__name__}"])
    return source, raw


def load_config(config: str | Path | dict[str, Any], source: str | None = None) -> EtherConfig:
    """Parse a YAML file path or an already-loaded dict (named ``source`` in errors). The environment does
    not apply here: :func:`ether_medium.settings.resolve` adds it (and the command line)."""
    where, raw = read_config(config)
    source = where if source is None else source
    try:
        cfg = EtherConfig.model_validate(raw)
    except ValidationError as exc:
        by_path: dict[str, list[str]] = {}
        for err in _relevant(raw, exc.errors()):
            path, msg = _describe(raw, err)
            if msg not in by_path.setdefault(path, []):
                by_path[path].append(msg)
        problems = [f"{path}: {'; '.join(msgs)}" for path, msgs in by_path.items()]
        raise ConfigError(source, problems) from exc
    cfg.source = source
    cfg.raw = raw
    return cfg
