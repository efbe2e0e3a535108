"""ZeroMQ subscriptions for "every topic under a prefix except a few": the way an observer keeps seeing slow
topics while a fast one floods the fabric.

ZeroMQ subscriptions are byte prefixes with no negation, so "all but ``bench``" is spelt as a set of
prefixes that together match every topic except exactly ``bench``: every one-byte extension of each prefix of
``bench`` that leaves its path (``a``, ``c``, ..., ``ba``, ``bb``, ...), and ``bench`` followed by any byte
(so ``bench.slow`` is still seen). That is 255 subscriptions per byte of the excluded name, sent once.

A topic that is itself a proper prefix of an excluded one (``ben`` when ``bench`` is excluded) is not
matched by the set; an observer sees it only in its sampling windows.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["all_except"]

_BYTES = [bytes([c]) for c in range(1, 256)]


def all_except(prefix: bytes, excluded: Iterable[bytes]) -> set[bytes]:
    """Subscription prefixes that match every topic starting with ``prefix`` except the ``excluded`` names
    (those that do not start with ``prefix`` are ignored)."""
    under = {e for e in excluded if e.startswith(prefix)}
    if not under:
        return {prefix}
    out: set[bytes] = set()
    _cover(prefix, under, out)
    return out


def _cover(prefix: bytes, under: set[bytes], out: set[bytes]) -> None:
    if not under:
        out.add(prefix)
        return
    longer = {e for e in under if len(e) > len(prefix)}
    if not longer:  # prefix itself is excluded: every extension of it is wanted
        out.update(prefix + b for b in _BYTES)
        return
    n = len(prefix)
    by_next: dict[bytes, set[bytes]] = {}
    for e in longer:
        by_next.setdefault(e[n : n + 1], set()).add(e)
    for b in _BYTES:
        branch = by_next.get(b)
        if branch is None:
            out.add(prefix + b)
        else:
            _cover(prefix + b, branch, out)
