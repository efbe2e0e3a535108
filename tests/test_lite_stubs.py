"""The .pyi stubs the host and users' desktop code type-check against name exactly the public API of their
modules (tests/test_lite_typed_install.py checks a user's program against an installed wheel)."""

import ast
import inspect
import types
from pathlib import Path

import pytest

import ether_lite
from ether_lite import clock, endpoints, framing, links, node, protocol
from ether_lite.links import pipe, udp

ROOT = Path(__file__).resolve().parent.parent


def _stub_names(path: Path) -> set[str]:
    names = set()
    for stmt in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
            names.add(stmt.name)
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            names.add(stmt.target.id)
        elif isinstance(stmt, ast.ImportFrom):  # explicit re-exports: "from m import x as x"
            names.update(a.name for a in stmt.names if a.asname == a.name)
    return names


def _public(module: types.ModuleType) -> set[str]:
    """What a user of ``module`` sees: its ``__all__``, else the names it defines itself (not what it
    imported). "@py_builtins"/"@pytest_ar": pytest rewrites the asserts of every module of a distribution that
    ships a pytest plugin (hil.plugin), and that adds these two names."""
    if hasattr(module, "__all__"):
        return set(module.__all__)
    names = set()
    for name, value in vars(module).items():
        if name.startswith(("_", "@")) or name == "const" or isinstance(value, types.ModuleType):
            continue
        if (inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ != module.__name__:
            continue  # imported
        names.add(name)
    return names


STUBBED = [
    (ether_lite, "__init__.pyi"),
    (clock, "clock.pyi"),
    (endpoints, "endpoints.pyi"),
    (framing, "framing.pyi"),
    (links, "links/__init__.pyi"),
    (pipe, "links/pipe.pyi"),
    (udp, "links/udp.pyi"),
    (node, "node.pyi"),
    (protocol, "protocol.pyi"),
]


@pytest.mark.parametrize(("module", "stub"), STUBBED, ids=[s for _, s in STUBBED])
def test_stub_matches_module(module: types.ModuleType, stub: str) -> None:
    extra = {"LinkLike"} if stub.startswith("links/") else {"FieldSpec"} if stub == "endpoints.pyi" else set()
    assert _stub_names(ROOT / "ether_lite" / stub) - extra == _public(module) - {"__version__"} | (
        {"__version__"} if stub == "__init__.pyi" else set()
    )
