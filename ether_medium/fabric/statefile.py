"""Where a running session says how to reach its fabric, for ``ether monitor``, ``replay`` and the like.

The tap process writes ``{"pid", "session", "ETHER_PUBLISH", "ETHER_SUBSCRIBE"}`` to :func:`fabric_file` once
its
broker runs, and removes it at shutdown if it is still its own.
"""

from __future__ import annotations

import contextlib
import json
import os

from ether_medium.logs import get_logger

__all__ = ["fabric_file", "remove_state", "write_state"]

log = get_logger()


def fabric_file() -> str:
    """Where a running tap process writes its broker addresses for ``ether monitor``:
    ``$ETHER_STATE_DIR/fabric.json``, else ``$XDG_RUNTIME_DIR/ether/fabric.json``, else
    ``./.ether/fabric.json``."""
    base = os.environ.get("ETHER_STATE_DIR")
    if not base:
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        base = os.path.join(xdg, "ether") if xdg else os.path.join(os.getcwd(), ".ether")
    return os.path.join(base, "fabric.json")


def write_state(session_id: str, env: dict[str, str]) -> str | None:
    """Write this process's fabric file; its path, or None when it could not be written (logged)."""
    path = fabric_file()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "w") as fh:
            json.dump({"pid": os.getpid(), "session": session_id, **env}, fh)
        os.replace(tmp, path)
    except OSError as exc:
        log.debug("could not write %s: %s", path, exc)
        return None
    return path


def remove_state(path: str) -> None:
    """Remove the fabric file at ``path`` if this process wrote it (another run may have replaced it)."""
    with contextlib.suppress(OSError):
        with open(path) as fh:
            mine = json.load(fh).get("pid") == os.getpid()
        if mine:
            os.unlink(path)
