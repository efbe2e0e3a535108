"""Periodic publishers on the host (``@ether_pub(every=S)``), ``None`` returns, and ``ether.publish`` from
instance and tap processes, in a real fabric with processes."""

from __future__ import annotations

import contextlib
import itertools
import logging
import statistics
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fabric_harness import LogCollector, expect, fabric_client, tapped

from ether_medium import DecoratorError, LaunchError, ether, ether_pub
from ether_medium.fabric.client import FabricClient
from ether_medium.fabric.envelope import Envelope

P = "periodic_apps"


def _instances(**classes: str) -> dict[str, Any]:
    return {"instances": {name: {"class_path": f"{P}.{cls}"} for name, cls in classes.items()}}


@contextlib.contextmanager
def _listening(config: dict[str, Any], *topics: str) -> Iterator[tuple[FabricClient, LogCollector]]:
    """Tap ``config``, subscribe a client to ``topics`` *before* ``ether.start()`` (so it misses no beat),
    start; always shut down."""
    logs = LogCollector()
    logger = logging.getLogger("ether")
    logger.addHandler(logs)
    try:
        ether.tap(config=config)
        try:
            with fabric_client(*topics) as client:
                ether.start()
                yield client, logs
        finally:
            ether.shutdown(timeout=5.0)
    finally:
        logger.removeHandler(logs)


def _collect(client: FabricClient, topic: str, seconds: float, first_timeout: float = 5.0) -> list[Envelope]:
    """Every message on ``topic`` from the first one for ``seconds`` (by the receiving clock)."""
    env = client.wait_for(topic, first_timeout)
    assert env is not None, f"nothing on {topic!r} within {first_timeout} s"
    out = [env]
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        env = client.recv(left)
        if env is not None and env.topic == topic:
            out.append(env)
    return out


def _run_queue_wait_s(pid: int) -> float:
    """How long the process's main thread has waited, runnable, for a CPU (Linux schedstat)."""
    with open(f"/proc/{pid}/schedstat") as fh:
        return int(fh.read().split()[1]) / 1e9


def test_a_50_hz_publisher_keeps_its_rate_and_does_not_drift() -> None:
    """50 Hz +- 1 % over 10 s, by the messages' own timestamps, with no drift from the schedule's grid.

    On a shared machine a process can wait for a CPU longer than a period; those beats are skipped, as they
    must be (never queued). They are excused up to what the kernel says the process waited on its run
    queue in the window (about one beat per period waited), so the test checks Ether, not the machine's
    load: on an idle machine nothing is excused and 495-505 messages must arrive."""
    period = 0.02
    with _listening(_instances(ticker="Ticker"), "tick") as (client, _):
        launcher = ether.launcher
        assert launcher is not None
        proc = launcher.children["ticker"].proc
        assert proc is not None
        first = client.wait_for("tick", 5.0)
        assert first is not None
        waited = _run_queue_wait_s(proc.pid)
        msgs = [first, *_collect(client, "tick", 10.6, first_timeout=1.0)]
        waited = _run_queue_wait_s(proc.pid) - waited
    times = [m.host_time for m in msgs]  # the messages' own timestamps (time.time() at publishing)
    t0 = times[0]
    published = sum(1 for t in times if t - t0 < 10.0)  # 500 beats in [t0, t0 + 10 s)
    excused = int(waited / period)
    report = f"{published} published in 10 s; the process waited {waited * 1000:.0f} ms for a CPU"
    assert 495 - excused <= published <= 505, report
    # every message sits on the schedule's grid t0 + k * period, the same in the last second as in the first
    beats = [round((t - t0) / period) for t in times]
    residuals = [t - t0 - k * period for t, k in zip(times, beats, strict=True)]
    early = statistics.median(r for t, r in zip(times, residuals, strict=True) if t - t0 < 1.0)
    late = statistics.median(r for t, r in zip(times, residuals, strict=True) if t - t0 > 9.0)
    assert abs(late - early) < 0.002, (early, late, report)  # a sleep-after-work loop drifts ~0.1 ms a beat
    # nothing lost between publisher and subscriber; every beat either called or counted as skipped
    ns = [m.data["n"] for m in msgs]
    assert ns == list(range(ns[0], ns[0] + len(ns)))
    assert beats[-1] - beats[0] >= ns[-1] - ns[0]


def test_the_schedule_stops_before_the_save_handlers_and_nothing_is_lost() -> None:
    received: list[int] = []
    saved: dict[str, Any] = {}
    live = threading.Event()

    def listen() -> None:
        with fabric_client("tick", "Ether.saved", name="listener") as client:
            live.set()
            deadline = time.monotonic() + 20.0
            while time.monotonic() < deadline:
                env = client.recv(0.5)
                if env is None:
                    continue
                if env.topic == "tick":
                    received.append(env.data["n"])
                elif "ticker_calls" in env.data:
                    saved.update(env.data)
                    return

    with tapped(_instances(ticker="Ticker")):
        thread = threading.Thread(target=listen)
        thread.start()
        assert live.wait(10.0)
        time.sleep(0.3)  # let it tick a while: the test is about what happens at shutdown
    thread.join(20.0)
    assert not thread.is_alive()
    # every call published, each received before the saved summary (one connection keeps its order)
    assert saved["ticker_calls"] >= 10
    assert received[-1] == saved["ticker_calls"]
    assert received == list(range(received[0], saved["ticker_calls"] + 1))


def test_an_overrun_skips_beats_keeps_the_grid_and_is_logged() -> None:
    with _listening(_instances(slow="Slow"), "slow") as (client, logs):
        msgs = _collect(client, "slow", 0.8)
        line = logs.wait_for("[slow]", "Slow.read (every 0.05 s)", "3 beat(s) skipped, not queued")
    assert line.startswith("WARNING")
    at = {m.data["n"]: m.data["at"] for m in msgs}
    # calls 1, 2, 3 on beats 0, 1, 2; call 3 took 0.23 s, so beats 3, 4, 5 were skipped; call 4 ran late for
    # beat 6 and call 5 on time for beat 7: the grid holds, nothing burst to catch up
    assert at[5] - at[1] == pytest.approx(7 * 0.05, abs=0.01)
    assert at[6] - at[5] == pytest.approx(0.05, abs=0.01)
    assert at[5] - at[4] < 0.05


def test_returning_none_publishes_nothing_and_a_raising_call_keeps_the_schedule() -> None:
    config = _instances(sometimes="Sometimes", raiser="Raiser")
    with _listening(config, "sometimes", "raiser") as (client, logs):
        got: dict[str, list[int]] = {"sometimes": [], "raiser": []}
        end = time.monotonic() + 0.5
        while (left := end - time.monotonic()) > 0:
            env = client.recv(left)
            if env is not None:
                got[env.topic].append(env.data["n"])
        logs.wait_for("[raiser]", "Raiser.read (every 0.02 s) raised", "ValueError: sensor glitch 2")
    assert len(got["sometimes"]) >= 10 and all(n % 2 == 1 for n in got["sometimes"])
    assert len(got["raiser"]) >= 5 and all(n % 2 == 1 for n in got["raiser"])
    # folded: one traceback line per 10 s, then a summary at the stop
    assert logs.text().count("Raiser.read (every 0.02 s) raised") == 1
    logs.wait_for("[raiser]", "Raiser.read (every 0.02 s):", "calls raised")


def test_a_start_handler_that_is_also_periodic_is_not_called_twice_at_start() -> None:
    with _listening(_instances(both="StartAndTick"), "start_and_tick") as (client, _):
        msgs = _collect(client, "start_and_tick", 0.3)
    gaps = [b.host_time - a.host_time for a, b in itertools.pairwise(msgs)]
    assert min(gaps) > 0.03, gaps


def test_a_method_declared_none_publishes_an_event_others_nothing_for_none() -> None:
    with tapped(_instances(events="Events")), fabric_client("poked", "maybe_out") as client:
        ether.publish("maybe", n=0)  # -> None: nothing
        ether.publish("maybe", n=5)
        assert expect(client, "maybe_out") == {"n": 5}
        ether.publish("poke", n=1)
        assert expect(client, "poked") == {}  # an event: the seed's collect_result -> summarize
        assert client.recv(0.2) is None


def test_ether_publish_inside_an_instance_and_from_the_tap_process() -> None:
    with tapped(_instances(relay="Relay")), fabric_client("relay_out", "relay_out_dict") as client:
        ether.publish("relay_in", x=4)  # keyword arguments
        assert expect(client, "relay_out") == {"x": 4, "doubled": 8}
        assert expect(client, "relay_out_dict") == {"x": 4}
        ether.publish("relay_in", {"x": 5})  # a dict, as before
        assert expect(client, "relay_out") == {"x": 5, "doubled": 10}
    with pytest.raises(LaunchError, match="needs a running fabric"):
        ether.publish("relay_in", x=1)


def test_a_periodic_method_that_needs_arguments_is_a_setup_error() -> None:
    with tapped(_instances(needs="NeedsArgs")) as logs:
        logs.wait_for("[needs]", "NeedsArgs.read has @ether_pub(every=0.1)", "give its parameters defaults")


@pytest.mark.parametrize("every", [0, -1, "fast", True])
def test_a_period_that_cannot_work_is_refused_where_the_class_is_defined(every: Any) -> None:
    with pytest.raises(DecoratorError, match="every is the period in seconds"):

        class Bad:
            @ether_pub(every=every)
            def read(self) -> dict:
                return {}


def test_two_periods_on_one_method_are_refused() -> None:
    with pytest.raises(DecoratorError, match="two periods"):

        class Bad:
            @ether_pub(topic="a", every=0.1)
            @ether_pub(topic="b", every=0.2)
            def read(self) -> dict:
                return {}


def test_outside_a_fabric_a_periodic_method_is_a_plain_method() -> None:
    from periodic_apps import Ticker

    ticker = Ticker()
    assert ticker.tick() == {"n": 1} and ticker.tick() == {"n": 2}


def test_the_registry_makes_a_periodic_publisher_of_a_class_it_cannot_edit() -> None:
    config = {
        "registry": {
            "periodic_apps.Plain": {"methods": {"read": {"ether_pub": {"topic": "plain", "every": 0.02}}}}
        },
        **_instances(plain="Plain"),
    }
    with _listening(config, "plain") as (client, _):
        msgs = _collect(client, "plain", 0.2)
    assert len(msgs) >= 5 and msgs[0].data == {"value": 1}
