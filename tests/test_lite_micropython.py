"""ether_lite on a real MicroPython interpreter (the WebAssembly port from npm, run by node), and the
rule that ether_lite imports only what MicroPython and CircuitPython provide.

The device-side checks are tests/micropython/lite_checks.py, the same bodies test_lite_device.py runs on
CPython and test_lite_circuitpython.py on CircuitPython (there from the .mpy `ether deploy` compiles). The
import rule is enforced twice: by scanning every import statement of ether_lite, and by importing every
module under MicroPython (check_every_module_imports).
"""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "tests" / "micropython" / "run.mjs"
MP_PACKAGE = ROOT / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"

# Top-level modules ether_lite may import anywhere. Board modules are imported only inside functions or
# try/except ImportError, so a port without them still imports ether_lite.
ALLOWED = {
    "ether_lite",
    "struct",
    "time",
    "gc",
    "sys",
    "micropython",
    "os",
    "select",
    "errno",
    "json",
    "builtins",  # links/stdio.py replaces print while the REPL's line carries frames
    "array",  # a core module of both (ether_lite.typed reads a DELIVER's typed arrays as array.array)
    # board and port modules (CircuitPython / MicroPython), never at module level without try/except
    "usb_cdc",
    "busio",
    "board",
    "socketpool",
    "wifi",
    "microcontroller",
    "supervisor",
    "machine",
    "socket",
}
# CPython-only links, each imported only when its link is chosen: module path -> extra allowed imports
ALLOWED_IN = {
    "links/serial.py": {"serial"},
    "links/node_stdio.py": {"binascii", "ether_host_io"},
    "framing.py": {"binascii"},  # host side: crc_hqx where it exists, the core's crc16 otherwise
    # imported only when a device has a key (PROTOCOL.md 6.1): boards with hashlib or adafruit_hashlib
    "keyed.py": {"hashlib", "adafruit_hashlib"},
}
# Allowed only inside try/except ImportError (annotations on CPython)
ONLY_GUARDED = {"typing"}
BOARD_MODULES = {
    "usb_cdc",
    "busio",
    "board",
    "socketpool",
    "wifi",
    "microcontroller",
    "supervisor",
    "machine",
    "socket",
}


def _lite_sources() -> list[Path]:
    return [
        p
        for p in sorted((ROOT / "ether_lite").rglob("*.py"))
        if "sim" not in p.relative_to(ROOT / "ether_lite").parts
    ]


def _imports(tree: ast.AST) -> list[tuple[str, bool, bool]]:
    """(top-level module, at module level?, inside try/except ImportError?) of every import."""
    out: list[tuple[str, bool, bool]] = []

    def visit(node: ast.AST, module_level: bool, guarded: bool) -> None:
        for child in ast.iter_child_nodes(node):
            ml, g = module_level, guarded
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                ml = False
            if isinstance(child, ast.Try):
                names = set()
                for h in child.handlers:
                    t = h.type
                    for e in t.elts if isinstance(t, ast.Tuple) else [t]:
                        if isinstance(e, ast.Name):
                            names.add(e.id)
                if names & {"ImportError", "ModuleNotFoundError"}:
                    for stmt in child.body:
                        visit_stmt(stmt, ml, True)
                    for part in (child.handlers, child.orelse, child.finalbody):
                        for stmt in part:
                            visit_stmt(stmt, ml, g)
                    continue
            visit_stmt(child, ml, g)

    def visit_stmt(node: ast.AST, module_level: bool, guarded: bool) -> None:
        if isinstance(node, ast.Import):
            out.extend((a.name.split(".")[0], module_level, guarded) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                out.append((node.module.split(".")[0], module_level, guarded))
        else:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                module_level = False
            visit(node, module_level, guarded)

    visit(tree, True, False)
    return out


def test_ether_lite_imports_only_what_boards_have() -> None:
    problems = []
    for path in _lite_sources():
        rel = path.relative_to(ROOT / "ether_lite").as_posix()
        for mod, module_level, guarded in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            allowed = ALLOWED | ALLOWED_IN.get(rel, set())
            if mod in ONLY_GUARDED:
                if not guarded:
                    problems.append(f"ether_lite/{rel}: imports {mod} outside try/except ImportError")
            elif mod not in allowed:
                problems.append(f"ether_lite/{rel}: imports {mod}, which MicroPython/CircuitPython lack")
            elif mod in BOARD_MODULES and module_level and not guarded:
                problems.append(
                    f"ether_lite/{rel}: imports board module {mod} at module level without try/except"
                )
    assert not problems, "\n".join(problems)


def test_import_scan_catches_forbidden_imports() -> None:
    tree = ast.parse(
        "import dataclasses\ntry:\n    import typing\nexcept ImportError:\n    pass\nimport usb_cdc\n"
    )
    assert _imports(tree) == [("dataclasses", True, False), ("typing", True, True), ("usb_cdc", True, False)]


def _micropython(*args: str, timeout: float = 50) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed; the MicroPython tests need Node.js (then run `make deps`)")
    if not MP_PACKAGE.exists():
        pytest.skip("node_modules lacks @micropython/micropython-webassembly-pyscript: run `make deps`")
    return subprocess.run(
        [node, str(RUNNER), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


COPY = [
    "--copy",
    "ether_lite=/lib/ether_lite",
    "--copy",
    "tests/micropython=/checks",
    "--copy",
    "tests/vectors=/vectors",
]


def test_device_checks_pass_under_micropython() -> None:
    proc = _micropython(*COPY, "tests/micropython/run_checks.py")
    sys.stdout.write(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all checks passed" in proc.stdout
    for line in (
        "ok   check_every_module_imports",
        "ok   check_cbor_fail_vectors",
        "ok   check_protocol_vectors",
    ):
        assert line in proc.stdout


def test_micropython_rejects_a_module_it_lacks(tmp_path: Path) -> None:
    """The interpreter really is MicroPython: a module importing dataclasses fails there."""
    script = tmp_path / "bad.py"
    script.write_text("import dataclasses\n")
    proc = _micropython(str(script))
    assert proc.returncode == 1 and "dataclasses" in proc.stderr, proc.stderr
    script.write_text("import sys\nassert sys.implementation.name == 'micropython'\nraise SystemExit(3)\n")
    assert _micropython(str(script)).returncode == 3
