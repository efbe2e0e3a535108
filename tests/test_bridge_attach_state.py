"""The attach state object (ether_medium.bridge.attach) on a fake clock: which QUERY it sends and when.

No processes, no links: frames are handed to it as the link manager would, and the clock is a number.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from ether_lite import protocol
from ether_medium.bridge.attach import Attach

N = 4


def describe(tid: int, name: str | None = None) -> list[Any]:
    return protocol.describe(tid, name or f"Dev.t{tid}", protocol.DEVICE_PUBLISHES, [["v", "f"]], 1.0)


def attach_with_hello(now: float = 0.0) -> Attach:
    a = Attach("dev", {})
    a.want_hello(now)
    assert a.query_due(now) == []
    assert a.hello(N, now) == []
    return a


def test_bare_query_until_the_hello_and_describes_before_it_count() -> None:
    a = Attach("dev", {})
    a.want_hello(0.0)
    assert a.next_at() == 0.0 and a.query_due(0.0) == []  # bare: HELLO and everything
    a.early(1, describe(1), 0.01)  # the HELLO of that answer was lost, its DESCRIBE 1 was not
    a.early(3, describe(3), 0.01)
    a.other_frame(0.02)  # a PUB after them: that answer is over, ask again at once
    assert a.query_due(0.02) == []
    early = a.hello(N, 0.03)
    assert [m[1] for m in early] == [1, 3]
    for m in early:
        a.describe(m, 0.03, early=True)
    assert a.missing() == [0, 2] and not a.complete


def test_describes_older_than_early_s_do_not_count() -> None:
    a = Attach("dev", {})
    a.want_hello(0.0)
    a.query_due(0.0)
    a.early(1, describe(1), 0.0)
    assert a.hello(N, a.timing.early_s + 0.1) == []


def test_after_the_hello_exactly_the_missing_ids_are_asked_for_at_once() -> None:
    a = attach_with_hello()
    a.describe(describe(0), 0.01)
    a.describe(describe(3), 0.02)  # the last of the bare answer: it is over, 1 and 2 were lost
    assert a.next_at() == 0.02
    assert a.query_due(0.02) == [1, 1, 2, 2]  # each twice: two chances for each
    a.describe(describe(2), 0.03)  # the last asked for came, 1 did not: ask for it at once
    assert a.query_due(0.03) == [1, 1]
    a.describe(describe(1), 0.04)
    assert a.complete and a.next_at() is None
    assert sorted(a.endpoints()) == [0, 1, 2, 3]


def test_a_lost_answer_is_asked_for_again_soon_while_the_device_talks() -> None:
    a = attach_with_hello()
    a.other_frame(0.01)  # a PUB: the answer to the bare QUERY is over, all its DESCRIBEs lost
    t = 0.01
    for _ in range(3):  # (the fourth would be bare: see below)
        assert a.query_due(t) == [0, 0, 1, 1, 2, 2, 3, 3]
        a.other_frame(t + 0.01)  # PUBs keep coming, the answers do not
        assert a.next_at() == pytest.approx(t + a.timing.retry_s)
        t = a.next_at() or 0.0


def test_a_silent_device_is_asked_less_and_less_often() -> None:
    a = Attach("dev", {})
    a.want_hello(0.0)
    t, gaps = 0.0, []
    for _ in range(7):
        assert a.query_due(t) == []
        nxt = a.next_at()
        assert nxt is not None
        gaps.append(round(nxt - t, 3))
        t = nxt
    assert gaps == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    assert a.query_due(t) == []
    a.early(0, describe(0), t + 0.05)  # it answers: back to the short retry
    assert a.next_at() == pytest.approx(t + 0.1)


def test_a_hello_of_the_same_boot_restarts_nothing() -> None:
    a = attach_with_hello()
    a.describe(describe(0), 0.01)
    a.describe(describe(3), 0.02)
    assert a.query_due(0.02) == [1, 1, 2, 2]
    hello_at = a.hello_at
    assert a.hello(N, 0.5) == []  # the same boot announces itself again (an old bare QUERY's answer)
    assert a.hello_at == hello_at and a.missing() == [1, 2] and sorted(a.described) == [0, 3]


def test_a_new_boot_forgets_what_was_described() -> None:
    a = attach_with_hello()
    for t in range(N):
        a.describe(describe(t), 0.01)
    assert a.complete
    a.new_boot()
    a.hello(2, 1.0)
    assert a.missing() == [0, 1] and a.hello_at == 1.0


def test_every_fourth_fruitless_query_is_bare() -> None:
    """A device whose ether_lite does not know QUERYs with topic ids still gets everything asked for."""
    a = attach_with_hello()
    a.other_frame(0.01)
    asked, t = [], 0.01
    for _ in range(8):
        q = a.query_due(t)
        assert q is not None
        asked.append(q)
        t = a.next_at() or 0.0
    twice = [0, 0, 1, 1, 2, 2, 3, 3]
    assert asked == [twice] * 3 + [[]] + [twice] * 3 + [[]]


def test_a_refused_describe_is_reported_and_not_asked_for_again(caplog: pytest.LogCaptureFixture) -> None:
    a = attach_with_hello()
    a.describe(describe(0, "Dev.same"), 0.01)
    assert a.describe(describe(1, "Dev.same"), 0.01) is None
    a.refuse(2, "bad field type", 0.01)  # protocol.check refused it
    a.describe(describe(3), 0.02)
    assert a.complete and sorted(a.endpoints()) == [0, 3] and a.described[1] is None
    assert a.counters.describe_errors == 2
    assert "topic id 1 'Dev.same' has the same name as topic id 0" in caplog.text


def test_a_pub_on_an_unknown_topic_asks_for_it_at_most_once_a_second() -> None:
    a = attach_with_hello()
    for t in range(N):
        a.describe(describe(t), 0.01)
    a.ask_again(2, 1.0)  # described, but PUBs say otherwise (its fields changed): ask for it again
    assert a.query_due(1.0) == [2, 2]
    a.describe(describe(2), 1.01)
    a.ask_again(2, 1.5)
    assert a.next_at() is None  # within the second
    a.ask_again(9, 2.1)  # beyond what the HELLO said: perhaps another boot, so HELLO and everything
    assert a.query_due(2.1) == []


def test_attaching_through_a_lossy_channel_is_quick_for_every_seed() -> None:
    """A simulated device answers every QUERY (after 5 ms); each frame either way is lost with the odds a
    frame of its length has at 2 % bad bytes. All endpoints are known within 1.5 s of simulated time for
    every one of 300 seeds (the worst of 1000 seeds takes 1.1 s; HIL measures the real thing)."""
    n, hello_len, describe_len, query_len = 11, 90, 60, 8
    worst = 0.0
    for seed in range(300):
        rng = random.Random(seed)

        def arrives(length: int, rng: random.Random = rng) -> bool:
            return rng.random() < 0.98**length

        a = Attach("dev", {})
        a.want_hello(0.0)
        t = 0.0
        while not a.complete:
            assert t < 1.5, f"seed {seed}: missing {a.missing()} after 1.5 s ({a.queries} QUERYs)"
            ids = a.query_due(t)
            if ids is None:
                t = max(t + 0.001, a.next_at() or t + 0.05)  # PUBs come every 50 ms meanwhile
                a.other_frame(t)
                continue
            t += 0.005
            for _ in range(a.copies):
                if not arrives(query_len):
                    continue
                if not ids and arrives(hello_len):
                    for m in a.hello(n, t):
                        a.describe(m, t, early=True)
                for tid in ids or range(n):
                    if arrives(describe_len):
                        if a.n is None:
                            a.early(tid, describe(tid), t)
                        else:
                            a.describe(describe(tid), t)
                    t += 0.0005
            a.other_frame(t + 0.001)
        worst = max(worst, t)
    assert worst < 1.5, worst
