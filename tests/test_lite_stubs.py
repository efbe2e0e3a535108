"""The .pyi stubs the host type-checks against name exactly the public API of their modules."""

import ast
from pathlib import Path

from ether_lite import framing, protocol

ROOT = Path(__file__).resolve().parent.parent


def _stub_names(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _public(module: object) -> set[str]:
    # "@py_builtins"/"@pytest_ar": pytest rewrites the asserts of every module of a distribution that ships a
    # pytest plugin (hil.plugin), and that adds these two names.
    return {n for n in vars(module) if not n.startswith(("_", "@")) and n != "const"}


def test_framing_stub_matches_module() -> None:
    assert _stub_names(ROOT / "ether_lite" / "framing.pyi") == _public(framing)


def test_protocol_stub_matches_module() -> None:
    assert _stub_names(ROOT / "ether_lite" / "protocol.pyi") == _public(protocol)
