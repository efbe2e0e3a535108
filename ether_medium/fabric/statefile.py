"""Where a running session says how to reach its fabric, for ``ether monitor``, ``replay`` and the like.

One file per run: the tap process writes ``fabric-<session id>.json`` (``{"pid", "session",
"ETHER_PUBLISH", "ETHER_SUBSCRIBE"}``) into :func:`state_dir` once its broker runs, and removes it at
shutdown. So a second ``ether run`` in the same folder never overwrites or deletes the first one's file.

:func:`running_fabrics` finds the files of live tap processes (in ``$ETHER_STATE_DIR``, then
``$XDG_RUNTIME_DIR/ether``, then ``./.ether``; a ``fabric.json`` from before files were per run counts too)
and :func:`choose_fabric` picks one: the one whose session id starts with the given prefix, the only one
running, or (several running, on a terminal) the one the user picks; otherwise
:class:`~ether_medium.errors.FabricNotFound` lists them and says how to choose.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ether_medium.errors import FabricNotFound
from ether_medium.fabric.process import pid_alive
from ether_medium.logs import get_logger

__all__ = [
    "RunningFabric",
    "choose_fabric",
    "fabric_file",
    "find_fabric",
    "remove_state",
    "running_fabrics",
    "state_dir",
    "state_dirs",
    "write_state",
]

log = get_logger()


def state_dir() -> str:
    """Where this process writes its fabric file: ``$ETHER_STATE_DIR``, else ``$XDG_RUNTIME_DIR/ether``,
    else ``./.ether``."""
    base = os.environ.get("ETHER_STATE_DIR")
    if base:
        return base
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    return os.path.join(xdg, "ether") if xdg else os.path.join(os.getcwd(), ".ether")


def state_dirs(project_dir: Path | None = None) -> list[Path]:
    """Where running sessions may have written their files, in the order they are searched."""
    out: list[Path] = []
    if os.environ.get("ETHER_STATE_DIR"):
        out.append(Path(os.environ["ETHER_STATE_DIR"]))
    if os.environ.get("XDG_RUNTIME_DIR"):
        out.append(Path(os.environ["XDG_RUNTIME_DIR"]) / "ether")
    out.append((Path.cwd() if project_dir is None else project_dir) / ".ether")
    return list(dict.fromkeys(out))


def fabric_file(session_id: str) -> str:
    """The fabric file of session ``session_id`` written by this process."""
    return os.path.join(state_dir(), f"fabric-{session_id}.json")


def write_state(session_id: str, env: dict[str, str]) -> str | None:
    """Write this run's fabric file (and remove those of runs whose process is gone: killed runs leave
    theirs); its path, or None when it could not be written (logged)."""
    path = fabric_file(session_id)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _sweep(Path(os.path.dirname(path)))
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as fh:
            json.dump({"pid": os.getpid(), "session": session_id, **env}, fh)
        os.replace(tmp, path)
    except OSError as exc:
        log.debug("could not write %s: %s", path, exc)
        return None
    return path


def _sweep(base: Path) -> None:
    """Remove the fabric files in ``base`` whose process is gone."""
    for stale in base.glob("fabric-*.json"):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            pid = json.loads(stale.read_text()).get("pid")
            if isinstance(pid, int) and not pid_alive(pid):
                stale.unlink()


def remove_state(path: str) -> None:
    """Remove the fabric file at ``path`` if this process wrote it."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        with open(path) as fh:
            mine = json.load(fh).get("pid") == os.getpid()
        if mine:
            os.unlink(path)


@dataclass
class RunningFabric:
    """A session whose tap process is alive, as its fabric file says."""

    path: Path
    session: str
    pid: int | None
    started: float  # when the file was written (host clock)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def publish(self) -> str | None:
        value = self.info.get("ETHER_PUBLISH") or self.info.get("publish")
        return None if value is None else str(value)

    def describe(self) -> str:
        when = time.strftime("%H:%M:%S", time.localtime(self.started))
        return f"session {self.session} (PID {self.pid}, since {when}, {self.path})"


def running_fabrics(project_dir: Path | None = None) -> tuple[list[RunningFabric], list[str]]:
    """The live sessions' fabric files, oldest first, and what was skipped (unreadable files, files left by
    processes that are gone), one line each."""
    found: list[RunningFabric] = []
    skipped: list[str] = []
    seen: set[str] = set()
    for base in state_dirs(project_dir):
        paths = [*sorted(base.glob("fabric-*.json")), base / "fabric.json"]
        for path in paths:
            try:
                info = json.loads(path.read_text())
                mtime = path.stat().st_mtime
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                skipped.append(f"{path}: cannot read it ({exc})")
                continue
            if not isinstance(info, dict):
                skipped.append(f"{path}: not a fabric file")
                continue
            pid = info.get("pid")
            if isinstance(pid, int) and not pid_alive(pid):
                skipped.append(f"{path} is left over from a fabric that is no longer running (PID {pid} is "
                               "gone)")
                continue
            session = str(info.get("session", "?"))
            if session in seen:
                continue
            seen.add(session)
            found.append(RunningFabric(path, session, pid if isinstance(pid, int) else None, mtime, info))
    found.sort(key=lambda f: f.started)
    return found, skipped


def _ask(fabrics: list[RunningFabric]) -> RunningFabric | None:
    """On a terminal: list the sessions and read the user's choice (None: not on a terminal)."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return None
    print("Several fabrics are running:", file=sys.stderr)
    for i, fabric in enumerate(fabrics, 1):
        print(f"  {i}. {fabric.describe()}", file=sys.stderr)
    while True:
        print(f"Which one (1-{len(fabrics)})? ", end="", file=sys.stderr, flush=True)
        answer = sys.stdin.readline().strip()
        if not answer:
            return None
        if answer.isdigit() and 1 <= int(answer) <= len(fabrics):
            return fabrics[int(answer) - 1]


def choose_fabric(fabrics: list[RunningFabric], session: str | None = None, skipped: list[str] | None = None,
                  ask: Callable[[list[RunningFabric]], RunningFabric | None] = _ask) -> RunningFabric:
    """The fabric to talk to (see the module docstring)."""
    listing = "".join(f"\n  {f.describe()}" for f in fabrics)
    if session is not None:
        matches = [f for f in fabrics if f.session.startswith(session)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise FabricNotFound(f"no running fabric's session starts with {session!r}; running:"
                                 + (listing or " none"))
        raise FabricNotFound(f"{session!r} matches {len(matches)} running sessions; give more characters:"
                             + listing)
    if len(fabrics) == 1:
        return fabrics[0]
    if not fabrics:
        why = "".join(f"\n  {s}" for s in (skipped or []))
        raise FabricNotFound(
            "no running fabric found (looked in " + ", ".join(map(str, state_dirs())) + f"){why}\nStart one "
            "(`ether run CONFIG`) from this directory"
        )
    chosen = ask(fabrics)
    if chosen is not None:
        return chosen
    raise FabricNotFound(f"{len(fabrics)} fabrics are running; choose one with --fabric SESSION (an id or a "
                         f"unique prefix of one):{listing}")


def find_fabric(which: str | None = None, project_dir: Path | None = None) -> RunningFabric:
    """The running fabric named by ``which``: a fabric file's path, a session id or prefix, or None (the only
    one running, or the one the user picks)."""
    if which is not None and (os.sep in which or which.endswith(".json")):
        path = Path(which)
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise FabricNotFound(f"cannot read the fabric file {path}: {exc}") from exc
        if not isinstance(info, dict):
            raise FabricNotFound(f"{path} is not a fabric file")
        pid = info.get("pid")
        return RunningFabric(path, str(info.get("session", "?")), pid if isinstance(pid, int) else None,
                             time.time(), info)
    fabrics, skipped = running_fabrics(project_dir)
    return choose_fabric(fabrics, which, skipped)
