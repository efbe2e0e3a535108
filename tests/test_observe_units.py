"""The observer's arithmetic: subscriptions excluding fast topics, counts and rates from sequence numbers."""

from __future__ import annotations

import random

from ether_medium.fabric.envelope import Envelope
from ether_medium.observe.plot import Selector, numeric_fields
from ether_medium.observe.stats import SourceTrack, TopicStats
from ether_medium.observe.subscriptions import all_except


def _matched(subs: set[bytes], topic: bytes) -> bool:
    return any(topic.startswith(s) for s in subs)


def test_all_except_matches_everything_but_the_excluded_names() -> None:
    excluded = {b"bench", b"bench.fast", b"Flood.data"}
    subs = all_except(b"", excluded)
    for topic in excluded:
        assert not _matched(subs, topic)
    for topic in (b"bench.slow", b"benchmark", b"Thermometer.read", b"Ether.log", b"Flood.datas",
                  b"Flood.dat\xc3\xa9", b"bench.fast.x"):
        assert _matched(subs, topic), topic
    assert not _matched(subs, b"ben")  # the documented blind spot: a proper prefix of an excluded name
    assert len(subs) <= 255 * (len(b"bench.fast") + len(b"Flood.data") + 2)


def test_all_except_under_a_prefix_and_without_exclusions() -> None:
    assert all_except(b"Ether.", set()) == {b"Ether."}
    assert all_except(b"Ether.", {b"bench"}) == {b"Ether."}
    subs = all_except(b"Ether.", {b"Ether.log"})
    assert not _matched(subs, b"Ether.log") and _matched(subs, b"Ether.ready")
    assert not _matched(subs, b"bench")


def test_all_except_random_topics() -> None:
    rng = random.Random(7)
    alphabet = b"ab.c"
    for _ in range(50):
        excluded = {bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 5))) for _ in range(3)}
        subs = all_except(b"", excluded)
        for _ in range(200):
            topic = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 7)))
            proper_prefix = any(e.startswith(topic) and e != topic for e in excluded)
            if topic in excluded:
                assert not _matched(subs, topic), (excluded, topic)
            elif not proper_prefix:  # the documented blind spot: a proper prefix of an excluded name
                assert _matched(subs, topic), (excluded, topic)


def test_count_and_rate_come_from_sequence_numbers_not_from_what_was_seen() -> None:
    track = SourceTrack()
    for seq in (0, 1, 2, 500, 501, 1000):  # windows of a 100 Hz topic: most messages never seen
        track.add(seq, 100.0 + seq / 100)
    assert track.count == 1001
    assert abs(track.rate_hz(110.05) - 100.0) < 1e-6
    assert track.rate_hz(130.0) == 0.0  # quiet for long: stopped


def test_a_restarted_publisher_keeps_its_earlier_count() -> None:
    track = SourceTrack()
    for seq in range(10):
        track.add(seq, float(seq))
    for seq in range(3):
        track.add(seq, 20.0 + seq)
    assert track.count == 13


def test_intervals_only_between_consecutive_messages() -> None:
    stats = TopicStats("t")
    for seq, t in ((0, 0.0), (1, 0.1), (2, 0.2), (10, 1.0), (11, 1.15)):
        stats.add(Envelope("t", {"x": 1.0}, "src", seq, t))
    iv = stats.interval_stats()
    assert iv is not None and iv.count == 3
    assert abs(iv.mean_s - 0.35 / 3) < 1e-9 and abs(iv.max_s - 0.15) < 1e-9
    assert stats.fields() == {"x": "float"}


def test_plot_selectors_and_numeric_fields() -> None:
    sel = Selector("Thermometer.read.celsius")
    assert sel.fields_of("Thermometer.read") == ["celsius"]
    assert sel.fields_of("Thermometer.read.celsius") == []
    assert sel.fields_of("Heater.state") is None
    data = {"on": True, "power": 0.5, "name": "x", "pos": {"x": 1, "y": 2.5}}
    assert list(numeric_fields(data)) == [("on", 1.0), ("power", 0.5), ("pos/x", 1.0), ("pos/y", 2.5)]
