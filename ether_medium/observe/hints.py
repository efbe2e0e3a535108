"""A hint for a topic never seen: the live topic names closest to it (a misspelt ``ether monitor`` topic)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from ether_medium.fabric.broker import BrokerAddresses
from ether_medium.observe.sampler import Sampler, is_noise, matches

__all__ = ["closest", "live_topics", "never_seen_hint"]


def live_topics(addresses: BrokerAddresses, seconds: float = 1.5) -> list[str]:
    """The user topics that carry messages now (a short look at the whole fabric)."""
    sampler = Sampler(addresses, [""], name="hint")
    try:
        sampler.start()
        sampler.poll(seconds)
    finally:
        sampler.close()
    return sorted(t for t in sampler.stats if not is_noise(t))


def closest(name: str, candidates: list[str], n: int = 3) -> list[str]:
    found = difflib.get_close_matches(name, candidates, n=n, cutoff=0.4)
    if not found:  # a different case, or a part of the name
        low = name.lower().rstrip(".")
        found = [c for c in candidates if low in c.lower()][:n]
    return found


def never_seen_hint(addresses: BrokerAddresses, patterns: list[str], stats: Mapping[str, Any]) -> list[str]:
    """One line for each of ``patterns`` that matched no message: what is live and closest to it."""
    missing = [p for p in patterns if p and not any(matches(p, t) for t in stats)]
    if not missing:
        return []
    live = live_topics(addresses)
    lines = []
    for p in missing:
        near = closest(p, live)
        if near:
            lines.append(f"no message on {p!r} for 3 s; live topics closest to it: {', '.join(near)}")
        else:
            lines.append(f"no message on {p!r} for 3 s; live topics: {', '.join(live) or 'none'}")
    return lines
