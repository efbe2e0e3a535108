"""Device clock -> host clock: round-trip offset estimation from PING/PONG (PROTOCOL.md, "PING / PONG").

The device counts milliseconds in ``ticks_ms`` that wrap at ``ticks_period`` (HELLO), and stamps each PUB
with the low 16 bits only. The host pings; each PONG carries the device's full ``ticks_ms``. For a PING
sent at host time ``t_send`` whose PONG arrives at ``t_recv``, the device read its clock somewhere in
between, so

    device_ticks ~ host_mid + offset,  host_mid = (t_send + t_recv) / 2,  error <= rtt / 2.

The estimate is the minimum-RTT sample of a sliding window (the least queued one), so one slow round trip
never spoils it. Over minutes, the two crystals drift apart (tens of ppm on boards); the estimator fits the
rate from the best sample of each window over a longer history and extrapolates with it. The reported
uncertainty is half the chosen sample's RTT, plus one tick (the device reads whole milliseconds), plus the
drift since that sample at a bound of 100 ppm until the rate has been measured.

A device clock that jumps (a board whose tick counter was reset or set, or that stalled: ticks moving far
more, or less, than host time between two samples) is detected two ways. A PONG further than
:data:`JUMP_S` (plus both round trips and the drift bound) from the prediction: the jump is counted
(:attr:`ClockSync.jumps`, the link manager logs it) and the mapping restarts from that PONG alone. A reading
whose mapped time is in the future, more than :data:`STALE_S` before it arrived, or before the reading
mapped last (a device stamps in the order it sends; a datagram link may reorder) cannot be right: it is
mapped to its receive time with an uncertainty as wide as the disagreement (at least :data:`WIDE_S`), never
the tight one of a wrong mapping, and :attr:`ClockSync.suspect` asks for a PING at once, whose PONG then
re-synchronises.

Host times here are ``time.monotonic()`` seconds; :meth:`ClockSync.to_wall` converts to ``time.time()``.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

from ether_lite import protocol

__all__ = ["JUMP_S", "STALE_S", "WIDE_S", "ClockSync", "Mapped", "PingSample"]

JUMP_S = 0.1  # a PONG this far from the prediction (beyond round trips and drift): the device clock jumped
STALE_S = 5.0  # a reading mapped this long before it arrived: the mapping is wrong (or the link held it)
WIDE_S = 1.0  # the least uncertainty of a reading mapped to its receive time for want of a good mapping
_FUTURE_S = 0.005  # a reading mapped this far past its receive time (beyond the uncertainty): wrong

_TICK_S = 0.001  # ticks_ms resolution
_DRIFT_BOUND = 100e-6  # assumed worst-case rate error before it has been measured
_RATE_MIN_SPAN_S = 20.0  # history needed before the rate is estimated
_HISTORY = 64  # per-window minima kept for the rate fit
_UNWRAPPED = 1 << 62  # a period no device clock reaches: unwrap_ticks16 on it gives the unwrapped value


@dataclass(frozen=True, slots=True)
class PingSample:
    host_mid: float  # monotonic seconds, midpoint of send and receive
    rtt: float  # seconds
    ticks: int  # device ticks unwrapped (monotonic across wraps since attach)


class Mapped(NamedTuple):  # a tuple: made for every reading (a frozen dataclass costs ~5 times more)
    host_time: float  # monotonic seconds
    uncertainty: float  # seconds
    synced: bool  # False: no PONG yet, host_time is the receive time


class ClockSync:
    """One device's clock model. :meth:`reset` on attach and after a device reset (new boot id)."""

    def __init__(self, ticks_period: int = 1 << 30, window: int = 8) -> None:
        self.window = window
        self.reset(ticks_period)

    def reset(self, ticks_period: int) -> None:
        """Forget every sample (a new device, another boot)."""
        self.jumps = 0  # device clock jumps detected from PONGs
        self.last_jump_s = 0.0  # the last one: how far the device clock was from the prediction
        self.wide = 0  # readings mapped to their receive time with a wide uncertainty
        self._restart(ticks_period)

    @property
    def suspect(self) -> bool:
        """A reading disagreed with the mapping since the last PONG: PING now to re-synchronise."""
        return self._suspect

    def _restart(self, ticks_period: int) -> None:
        if ticks_period <= 0 or ticks_period & (ticks_period - 1):
            raise ValueError(f"ticks_period {ticks_period} is not a power of two")
        self._suspect = False
        self._last_host = -1e300  # the host time of the last reading mapped (device stamps never go back)
        self.period = ticks_period
        self._recent: deque[PingSample] = deque(maxlen=self.window)
        self._history: deque[PingSample] = deque(maxlen=_HISTORY)  # best of each full window
        self._since_history = 0
        self._last_raw = 0  # last PONG ticks as sent (mod period)
        self._last_unwrapped = 0
        self._rate = 1.0  # device seconds per host second
        self._rate_known = False
        self.best: PingSample | None = None
        # map_ticks16's prediction for one receive time (see there)
        self._at = -1.0
        self._at_best: PingSample | None = None
        self._at_base = 0
        self._at_uncertainty = 0.0

    @property
    def samples(self) -> int:
        """Round trips in the current window."""
        return len(self._recent)

    @property
    def recent_rtts(self) -> list[float]:
        """The round-trip times of the current window, oldest first, seconds."""
        return [s.rtt for s in self._recent]

    @property
    def synced(self) -> bool:
        return self.best is not None

    def add_pong(self, t_send: float, t_recv: float, ticks: int) -> PingSample:
        """Record one round trip (monotonic seconds at PING send and PONG receipt, PONG's ticks)."""
        rtt = max(t_recv - t_send, 0.0)
        if self._recent or self._history:
            unwrapped = self._last_unwrapped + protocol.ticks_diff(ticks, self._last_raw, self.period)
            if self._jumped(unwrapped, (t_send + t_recv) / 2.0, rtt):
                self._restart(self.period)  # from this PONG alone: the old samples are of another clock
                unwrapped = ticks
        else:
            unwrapped = ticks
        self._suspect = False
        self._last_raw = ticks % self.period
        self._last_unwrapped = unwrapped
        sample = PingSample((t_send + t_recv) / 2.0, rtt, unwrapped)
        self._recent.append(sample)
        self.best = min(self._recent, key=lambda s: s.rtt)
        self._since_history += 1
        if self._since_history >= self.window or not self._history:
            self._since_history = 0
            if not self._history or self.best is not self._history[-1]:
                self._history.append(self.best)
            self._fit_rate()
        return sample

    def _jumped(self, unwrapped: int, host_mid: float, rtt: float) -> bool:
        best = self.best
        if best is None:
            return False
        off = (unwrapped - self._predicted_unwrapped(host_mid)) * _TICK_S
        drift = 0.0 if self._rate_known else _DRIFT_BOUND * abs(host_mid - best.host_mid)
        if abs(off) <= JUMP_S + (rtt + best.rtt) / 2.0 + 2 * _TICK_S + drift:
            return False
        self.jumps += 1
        self.last_jump_s = off
        return True

    def _fit_rate(self) -> None:
        pts = list(self._history)
        if len(pts) < 3 or pts[-1].host_mid - pts[0].host_mid < _RATE_MIN_SPAN_S:
            return
        n = len(pts)
        mx = sum(p.host_mid for p in pts) / n
        my = sum(p.ticks * _TICK_S for p in pts) / n
        sxx = sum((p.host_mid - mx) ** 2 for p in pts)
        sxy = sum((p.host_mid - mx) * (p.ticks * _TICK_S - my) for p in pts)
        if sxx <= 0:
            return
        rate = sxy / sxx
        if abs(rate - 1.0) < 0.01:  # anything further off is a bad sample, not a crystal
            self._rate = rate
            self._rate_known = True

    def _predicted_unwrapped(self, now: float) -> float:
        assert self.best is not None
        return self.best.ticks + (now - self.best.host_mid) * self._rate / _TICK_S

    def map_unwrapped(self, ticks: float, now: float) -> Mapped:
        if self.best is None:
            return Mapped(now, 0.0, False)
        best = self.best
        host = best.host_mid + (ticks - best.ticks) * _TICK_S / self._rate
        age = abs(host - best.host_mid)
        drift = 0.0 if self._rate_known else _DRIFT_BOUND * age
        return Mapped(host, best.rtt / 2.0 + _TICK_S + drift, True)

    def map_ticks16(self, t16: int, now: float) -> Mapped:
        """Host time of a PUB's 16-bit device stamp received at ``now`` (monotonic seconds).

        The prediction of the device's clock at ``now`` is kept for the next call with the same ``now``
        (every frame of one read from the link), since this runs for every reading."""
        best = self.best
        if best is None:
            return Mapped(now, 0.0, False)
        if now != self._at or best is not self._at_best:
            base = round(self._predicted_unwrapped(now))
            drift = 0.0 if self._rate_known else _DRIFT_BOUND * abs(now - best.host_mid)
            self._at, self._at_best = now, best
            self._at_base = base
            self._at_uncertainty = best.rtt / 2.0 + _TICK_S + drift
        # unwrapped around the prediction on a clock that never wraps (2**62 ms): base + the 16-bit step
        unwrapped = protocol.unwrap_ticks16(t16, self._at_base, _UNWRAPPED)
        if unwrapped >= _UNWRAPPED >> 1:  # a stamp from just before the first PONG's ticks passed 0
            unwrapped -= _UNWRAPPED
        host = best.host_mid + (unwrapped - best.ticks) * _TICK_S / self._rate
        unc = self._at_uncertainty
        if (
            host > now + unc + _FUTURE_S
            or host < now - STALE_S
            or host < self._last_host - 2 * unc - _FUTURE_S
        ):
            # taken after it arrived, long before, or before the reading sent ahead of it: the device clock
            # jumped since the last PONG (or, on a datagram link, a reordered reading: no harm but a PING)
            self._suspect = True
            self.wide += 1
            return Mapped(now, max(abs(now - host), WIDE_S), True)
        self._last_host = host
        return Mapped(host, unc, True)

    def map_ticks(self, ticks: int, now: float) -> Mapped:
        """Host time of a full device tick value (mod ``ticks_period``) seen at about ``now``."""
        if self.best is None:
            return Mapped(now, 0.0, False)
        base = round(self._predicted_unwrapped(now))
        unwrapped = base + protocol.ticks_diff(ticks, base % self.period, self.period)
        return self.map_unwrapped(unwrapped, now)

    @property
    def rate_ppm(self) -> float | None:
        return (self._rate - 1.0) * 1e6 if self._rate_known else None

    @staticmethod
    def to_wall(monotonic_s: float) -> float:
        """A monotonic time as ``time.time()`` seconds (the fabric's host clock)."""
        return time.time() - (time.monotonic() - monotonic_s)
