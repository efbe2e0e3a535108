"""A device clock that jumps (issue 11: a board's tick counter that jumps left readings 27 s off with a
stated uncertainty of 3 ms): detected, logged, re-synchronised, and no reading meanwhile carries a tight
wrong time. A real ether_lite Node on the in-memory link (tests/bridge_memory.py) whose ticks follow the
fake host clock, plus an offset the test moves."""

from __future__ import annotations

from typing import Any

import pytest
from bridge_memory import Bench

from ether_lite import clock as lite_clock
from ether_medium.bridge.clock import WIDE_S, ClockSync
from ether_medium.bridge.manager import ATTACHED


class Run:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset_ms = 5_000_000
        self.b = Bench()
        monkeypatch.setattr(
            lite_clock, "ticks_ms", lambda: (int(self.b.t * 1000) + self.offset_ms) & (2**30 - 1)
        )
        self.errors: list[tuple[float, float]] = []  # (error of the reading's time, its stated uncertainty)
        sink = self.b.sink
        publish = sink.publish

        def recording(mgr: Any, ep: Any, data: dict[str, Any], reading: Any) -> None:
            if reading.device_time is not None:
                self.errors.append((reading.device_time - reading.host_time, reading.uncertainty))
            publish(mgr, ep, data, reading)

        sink.publish = recording  # type: ignore[method-assign]
        self.b.run_until(lambda: self.b.mgr.state == ATTACHED, 1.0)

    def run(self, seconds: float) -> None:
        """Readings every 50 ms for ``seconds`` of host time; the device stamps them as it sends them."""
        node = self.b.node
        assert node is not None
        end = self.b.t + seconds
        while self.b.t < end:
            node.publish(self.b.rig.read)
            for _ in range(50):
                self.b.step(0.001)


@pytest.mark.parametrize("jump_s", [27.0, -27.0, 0.4, -0.4, 3.0, 200.0, -3000.0])
def test_a_device_clock_jump_is_detected_and_never_gives_a_tight_wrong_time(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, jump_s: float
) -> None:
    r = Run(monkeypatch)
    try:
        r.run(3.0)
        assert r.errors and all(abs(e) <= u + 0.002 for e, u in r.errors), "before the jump"
        assert max(u for _, u in r.errors[-10:]) < 0.01
        r.errors.clear()
        r.offset_ms += round(jump_s * 1000)
        r.run(3.0)
        wrong = [(e, u) for e, u in r.errors if abs(e) > u + 0.002]
        assert not wrong, f"readings with a tight wrong time after a {jump_s} s jump: {wrong[:3]}"
        assert r.b.mgr.counters.clock_jumps == 1
        assert "the device clock jumped by" in caplog.text
        assert max(u for _, u in r.errors[-10:]) < 0.01, "re-synchronised: tight again"
        assert r.b.mgr.state == ATTACHED
    finally:
        r.b.close()


def test_clock_sync_forward_and_backward_jumps() -> None:
    c = ClockSync(1 << 30)
    for i in range(8):
        t = 10.0 + i * 0.25
        c.add_pong(t, t + 0.002, round((t + 0.001) * 1000) + 1000)
    m = c.map_ticks16((round(12.5 * 1000) + 1000 + 27000) & 0xFFFF, now=12.51)  # 27 s ahead: in the future
    assert c.suspect and m.host_time == 12.51 and m.uncertainty >= 27 - 0.1
    m = c.map_ticks16((round(12.5 * 1000) + 1000 - 20000) & 0xFFFF, now=12.51)  # 20 s behind: stale
    assert m.uncertainty >= WIDE_S
    c.add_pong(13.0, 13.002, round(13.001 * 1000) + 1000 + 27000)
    assert c.jumps == 1 and c.last_jump_s == pytest.approx(27.0, abs=0.01) and not c.suspect
    m = c.map_ticks16((round(13.2 * 1000) + 1000 + 27000) & 0xFFFF, now=13.21)
    assert m.host_time == pytest.approx(13.2, abs=0.002) and m.uncertainty < 0.01
