"""Where a recording comes from: the Ether and Python versions, platform, host, user and git commit of a run,
written into its session row (``sessions.versions``, ``host``, ``user``, ``git_commit``, ``cwd``)."""

from __future__ import annotations

import getpass
import os
import platform
import socket
import subprocess
import sys
from typing import Any

from ether_medium.version import __version__

__all__ = ["host_provenance"]


def _git(cwd: str, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def host_provenance(cwd: str | None = None) -> dict[str, Any]:
    """Who, where and with what this runs: the session's ``versions``, ``host``, ``user``, git, ``cwd``."""
    cwd = os.getcwd() if cwd is None else cwd
    commit = _git(cwd, "rev-parse", "HEAD") or None
    status = _git(cwd, "status", "--porcelain", "--untracked-files=no") if commit else None
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = None
    versions: dict[str, Any] = {
        "ether-medium": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git_dirty": bool(status) if commit else None,
        "devices": [],
    }
    return {"versions": versions, "host": socket.gethostname(), "user": user, "git_commit": commit,
            "cwd": cwd}
