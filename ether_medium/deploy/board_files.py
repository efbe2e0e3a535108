"""What of ether_lite goes onto a board: the import closure of ``ether_lite/__init__.py``, less the
desktop-only parts. ``ether deploy`` copies these files onto a CIRCUITPY drive; ``firmware/manifest.py``
freezes the same files into MicroPython firmware.

Standard library only, and no import of ether_medium: the manifest loads this file by its path, in the
Python that builds MicroPython, which need not have Ether's dependencies.
"""

from __future__ import annotations

import ast
from pathlib import Path

# Parts of ether_lite that only run on a desktop: the simulator, and the links for pyserial ports, pipes,
# in-memory tests and MicroPython under Node.js. They stay off the board to save its flash (a SAMD21
# drive has 48 KB). A new desktop-only link module belongs in this list.
DESKTOP_ONLY = ("sim", "links/serial.py", "links/pipe.py", "links/memory.py", "links/node_stdio.py")


def _module_file(root: Path, dotted: str) -> Path | None:
    """The file of ``ether_lite.<dotted>`` under ``root``: a module or a package's __init__.py."""
    base = root.joinpath(*dotted.split(".")) if dotted else root
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _desktop_only(root: Path, path: Path) -> bool:
    rel = path.relative_to(root)
    return rel.parts[0] in DESKTOP_ONLY or rel.as_posix() in DESKTOP_ONLY


def board_files(root: Path) -> list[Path]:
    """What a board needs of ether_lite: every module reachable by import from the package's
    ``__init__.py`` (imports inside functions included: the link modules ``open_link`` loads on demand),
    less the desktop-only parts. Host-only modules nobody on the device imports stay off the board."""
    start = root / "__init__.py"
    if not start.is_file():
        return []
    seen: set[Path] = set()
    todo = [start]
    while todo:
        path = todo.pop()
        if path in seen or _desktop_only(root, path):
            continue
        seen.add(path)
        pkg_parts = path.relative_to(root).parent.parts
        if pkg_parts:  # a module inside a subpackage needs the subpackage's __init__.py
            init = _module_file(root, ".".join(pkg_parts))
            if init is not None:
                todo.append(init)
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                if name == "ether_lite" or name.startswith("ether_lite."):
                    found = _module_file(root, name[len("ether_lite."):] if "." in name else "")
                    if found is not None:
                        todo.append(found)
    return sorted(seen)
