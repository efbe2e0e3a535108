"""Pre-flight: what can be checked about a config before any process starts (``ether run``, ``ether.tap``,
``ether check``).

* every ``instances.*.class_path`` and every ``registry:`` class is imported (the module loads, the class is
  there, each registry method exists) in this process, with the current directory on the import path as a
  child process has it;
* every ``devices.*.link`` is a link URL of a known scheme (the config already refuses others); a ``sim:``
  module is found (in the current directory, ``examples/devices/`` or the import path), compiles, and
  defines the class; a ``cmd:`` command's program exists; a ``key_file`` can be read and only by its owner;
* ``recording.path`` can be written: the file is a SQLite database (or does not exist yet) and its
  directory exists or can be made, and is writable.

A constructor that raises cannot be found without running it: that is a crash at start, reported as one.
:func:`preflight` returns the problems, one line each (key path and what was wrong); :func:`check` raises
:class:`~ether_medium.errors.PreflightError` naming the file with each of them.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ether_medium.config import EtherConfig
from ether_medium.errors import ClassPathError, KeyFileError, LinkUnavailable, PreflightError

__all__ = ["check", "preflight"]

SQLITE_HEADER = b"SQLite format 3\x00"


@contextlib.contextmanager
def _cwd_importable() -> Iterator[None]:
    """The current directory on ``sys.path`` (as in a child process) while the block runs."""
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.append(cwd)
    try:
        yield
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(cwd)


def _classes(cfg: EtherConfig) -> list[str]:
    from ether_medium.fabric.classes import load_class

    problems = []
    for class_path, entry in cfg.registry.items():
        where = f"registry.{class_path}"
        try:
            cls = load_class(class_path, where)
        except ClassPathError as exc:
            problems.append(str(exc))
            continue
        except (Exception, SystemExit) as exc:  # the module raised while importing
            problems.append(f"{where}: importing {class_path} raised {type(exc).__name__}: {exc}")
            continue
        for method in entry.methods:
            if not callable(getattr(cls, method, None)):
                problems.append(f"{where}.methods.{method}: {class_path} has no method {method!r}")
    for name, inst in cfg.instances.items():
        where = f"instances.{name}.class_path"
        try:
            load_class(inst.class_path, where)
        except ClassPathError as exc:
            problems.append(str(exc))
        except (Exception, SystemExit) as exc:
            problems.append(f"{where}: importing {inst.class_path} raised {type(exc).__name__}: {exc}")
    return problems


def _device_dirs() -> list[str]:
    """Where ``ether sim`` looks for a device module: the current directory, ``examples/devices``, the
    import path."""
    dirs = [os.getcwd()]
    with contextlib.suppress(Exception):
        dirs.append(str(importlib.import_module("ether_lite.sim.runner").DEVICES))
    return dirs + [p for p in sys.path if p]


def _find_module(module: str) -> str | None:
    if module.endswith(".py"):
        return os.path.abspath(module) if os.path.isfile(module) else None
    rel = module.replace(".", os.sep)
    for base in _device_dirs():
        for candidate in (os.path.join(base, rel + ".py"), os.path.join(base, rel, "__init__.py")):
            if os.path.isfile(candidate):
                return candidate
    return None


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)  # "*": any name may come
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.If, ast.Try)):  # try: from board_a import X / except ImportError: ...
            inner = ast.Module(body=[n for block in _blocks(node) for n in block], type_ignores=[])
            names |= _top_level_names(inner)
    return names


def _blocks(node: ast.If | ast.Try) -> list[list[ast.stmt]]:
    if isinstance(node, ast.If):
        return [node.body, node.orelse]
    return [node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)]


def _sim_module(where: str, spec: str) -> list[str]:
    spec = spec.partition("?")[0]
    module, _, cls = spec.rpartition(":")
    path = _find_module(module)
    if path is None:
        return [f"{where}: device module {module!r} not found (looked in the current directory, "
                f"examples/devices and the import path)"]
    try:
        source = Path(path).read_bytes()
        tree = ast.parse(source, filename=path)
        compile(tree, path, "exec", dont_inherit=True)  # what parsing lets through: 'return' outside...
    except SyntaxError as exc:
        return [f"{where}: device module {path} does not compile: {exc.msg} (line {exc.lineno})"]
    except (OSError, ValueError) as exc:
        return [f"{where}: cannot read device module {path}: {exc}"]
    names = _top_level_names(tree)
    if cls not in names and "*" not in names:
        defined = sorted(n.name for n in tree.body if isinstance(n, ast.ClassDef))
        listed = ", ".join(defined) or "none"
        return [f"{where}: device module {path} defines no {cls!r} (its classes: {listed})"]
    return []


def _devices(cfg: EtherConfig) -> list[str]:
    from ether_medium.bridge.links import parse_link

    problems = []
    for name, dev in cfg.devices.items():
        if dev.key_file is not None:
            try:
                dev.secret()
            except KeyFileError as exc:
                problems.append(str(exc).replace("key_file:", f"devices.{name}.key_file:", 1))
        where = f"devices.{name}.link"
        try:
            scheme, rest, _ = parse_link(dev.link)
        except LinkUnavailable as exc:
            problems.append(f"{where}: {exc.reason}")
            continue
        if scheme == "sim":
            problems += _sim_module(where, rest.strip())
        elif scheme == "cmd":
            try:
                argv = shlex.split(rest)
            except ValueError as exc:
                problems.append(f"{where}: cannot split the command: {exc}")
                continue
            if argv and shutil.which(argv[0]) is None:
                problems.append(f"{where}: program {argv[0]!r} not found (not a file, not on PATH)")
    return problems


def recording_problem(path: str | Path) -> str | None:
    """Why a recording database cannot be written at ``path`` (None when it can)."""
    target = Path(path)
    if target.exists():
        if not target.is_file():
            return f"{target} exists and is not a file"
        try:
            with open(target, "rb") as fh:
                head = fh.read(len(SQLITE_HEADER))
        except OSError as exc:
            return f"cannot read {target}: {exc.strerror}"
        if head and head != SQLITE_HEADER:
            return f"{target} is not a SQLite database (an Ether recording): choose another recording.path"
        if not os.access(target, os.W_OK):
            return f"{target} is not writable"
    parent = target.parent if str(target.parent) else Path(".")
    existing = parent
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        return f"cannot make directory {parent}: {existing} is not a directory"
    if existing != parent:
        if not os.access(existing, os.W_OK | os.X_OK):
            return f"cannot make directory {parent}: {existing} is not writable"
        return None
    try:  # the directory must take new files (SQLite writes its -wal and -shm beside the database)
        fd, tmp = tempfile.mkstemp(prefix=".ether-check-", dir=parent)
    except OSError as exc:
        return f"directory {parent} is not writable: {exc.strerror}"
    os.close(fd)
    os.unlink(tmp)
    return None


def preflight(cfg: EtherConfig) -> list[str]:
    """Every problem found in ``cfg`` that would stop the run (see the module docstring); empty when none."""
    with _cwd_importable():
        problems = _classes(cfg)
    problems += _devices(cfg)
    if cfg.recording is not None and cfg.recording.enabled:
        problem = recording_problem(cfg.recording.path)
        if problem is not None:
            problems.append(f"recording.path: {problem}")
    return problems


def check(cfg: EtherConfig) -> None:
    """Raise :class:`PreflightError` (a ``ConfigError``) listing every problem of ``cfg``; None when fine."""
    problems = preflight(cfg)
    if problems:
        raise PreflightError(cfg.source, problems)
