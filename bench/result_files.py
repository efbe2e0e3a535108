"""How a benchmark's instances hand their figures back: a subscriber instance writes them as one JSON file
when it has seen everything (atomically, by rename: ``fabric_nodes.BenchSubscriber``, ``array_nodes``), and
the benchmark process waits here until every file it expects is there (:func:`wait_for_results`), or runs a
whole rig until then (:func:`run_for_results`)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["run_for_result", "run_for_results", "wait_for_result", "wait_for_results"]


def wait_for_results(
    paths: Sequence[str | Path], what: str, timeout_s: float = 300.0
) -> list[dict[str, Any]]:
    """The JSON of every file in ``paths``, once all exist; :class:`TimeoutError` naming ``what`` (the
    benchmark) after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not all(os.path.exists(p) for p in paths):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the {what} did not finish within {timeout_s:g} s")
        time.sleep(0.01)
    results = []
    for p in paths:
        with open(p) as fh:
            results.append(json.load(fh))
    return results


def wait_for_result(path: str | Path, what: str, timeout_s: float = 300.0) -> dict[str, Any]:
    """The JSON of ``path`` once it exists (see :func:`wait_for_results`)."""
    return wait_for_results([path], what, timeout_s)[0]


def run_for_results(config: dict[str, Any], paths: Sequence[str | Path], what: str) -> list[dict[str, Any]]:
    """Tap ``config`` and start it; the JSON of every file in ``paths`` once all are written. The rig is shut
    down in any case."""
    from ether_medium import ether

    ether.tap(config=config)
    try:
        ether.start()
        return wait_for_results(paths, what)
    finally:
        ether.shutdown()


def run_for_result(config: dict[str, Any], path: str | Path, what: str) -> dict[str, Any]:
    """:func:`run_for_results` with one result file."""
    return run_for_results(config, [path], what)[0]
