"""The user's classes, found by class path: ``module.ClassName`` imported, and a config's ``registry:``
section applied to them (their methods decorated in place, as if written with the decorators)."""

from __future__ import annotations

import importlib
from typing import Any

from ether_medium.errors import ClassPathError
from ether_medium.fabric.decorators import apply_registry

__all__ = ["apply_registry_config", "load_class"]


def load_class(class_path: str, where: str) -> type:
    """The class ``class_path`` names, or :class:`ClassPathError` saying what is wrong (``where``: the
    config key)."""
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
