"""The rig's metrics for Prometheus: the service process a config's ``metrics:`` section starts.

It serves ``http://HOST:PORT/metrics`` (loopback by default) with ``prometheus-client``; names follow
Prometheus' conventions (``ether_`` prefix, base units, counters end in ``_total``):

================================================ ==================== ========================================
metric                                           labels               from
================================================ ==================== ========================================
``ether_messages_total``                         topic                publishers' sequence numbers (exact)
``ether_messages_rejected_total``                topic, reason        ``Ether.rejected``: a subscriber refused
``ether_device_frames_in_total`` / ``_out_total`` device              the bridge's link counters
``ether_device_frames_bad_total``                device, reason       crc, cobs, oversize, decode, version
``ether_device_round_trip_seconds``              device               histogram of PING round trips
``ether_device_sequence_gaps_total``             device               readings lost on the link
``ether_device_deliveries_total``                device, outcome      acked / failed DELIVERs
``ether_device_attached``                        device               1 while attached
``ether_recorder_rows_total``                                         rows committed (its progress reports)
``ether_recorder_pending_rows``                                       received, not yet committed
``ether_recorder_lag_seconds``                                        pending rows / commit rate
``ether_process_restarts_total``                 name, kind           the launcher's supervisor
``ether_process_up``                             name, kind           1 while running
================================================ ==================== ========================================

Collection costs the rig little: messages are counted by a :class:`~ether_medium.observe.sampler.Sampler`
(fast topics read in windows), the rest is asked once per ``interval_s``; nothing is computed per message
in the rig's own processes (bench/observe.py measures it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ether_medium import topics
from ether_medium.errors import MissingExtra, RemoteError
from ether_medium.fabric.envelope import Envelope
from ether_medium.fabric.requests import Requester
from ether_medium.observe.recorder_lag import RecorderLag
from ether_medium.observe.sampler import Sampler, is_noise
from ether_medium.observe.status import BAD_FRAME_COUNTERS, FabricStatus, ask_status

if TYPE_CHECKING:
    from ether_medium.fabric.service import ServiceContext

__all__ = ["RTT_BUCKETS_S", "RigMetrics", "main"]

log = logging.getLogger("ether.metrics")

METRICS_HINT = "the metrics: section needs prometheus-client: pip install 'ether-medium[metrics]'"
RTT_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class _Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.count += 1
        self.sum += value
        for i, le in enumerate(self.buckets):
            if value <= le:
                self.counts[i] += 1

    def cumulative(self) -> list[tuple[str, float]]:
        return [*((repr(le), float(n)) for le, n in zip(self.buckets, self.counts, strict=True)),
                ("+Inf", float(self.count))]


class RigMetrics:
    """What the exporter knows; :meth:`collect` is a ``prometheus_client`` collector (called per scrape, on
    the HTTP server's thread, hence the lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: dict[str, int] = {}
        self.rejected: dict[tuple[str, str], int] = {}
        self.status: FabricStatus | None = None
        self.rtt: dict[str, _Histogram] = {}
        self._pongs: dict[str, int] = {}
        self.lag = RecorderLag()

    def on_message(self, env: Envelope) -> None:
        if env.topic == topics.REJECTED:
            key = (str(env.data.get("topic", "")), str(env.data.get("reason", "unknown")))
            with self.lock:
                self.rejected[key] = self.rejected.get(key, 0) + 1
        elif env.topic == topics.RECORDER_PROGRESS:
            self.lag.add(env)

    def update(self, sampler: Sampler, status: FabricStatus | None) -> None:
        counts = {t: s.count for t, s in sampler.stats.items() if not is_noise(t)}
        with self.lock:
            self.messages = counts
            if status is None:
                return
            self.status = status
            for device, stats in status.devices.items():
                hist = self.rtt.setdefault(device, _Histogram(RTT_BUCKETS_S))
                pongs = int((stats.get("counters") or {}).get("pongs", 0))
                new = pongs - self._pongs.get(device, 0)
                self._pongs[device] = pongs
                rtts = list(stats.get("rtt_s") or [])
                for rtt in rtts[max(0, len(rtts) - new):] if new > 0 else []:
                    hist.observe(float(rtt))

    def describe(self) -> list[Any]:
        return []  # no metrics are collected when the collector is registered

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        with self.lock:
            msgs = CounterMetricFamily("ether_messages", "Messages published, per topic", labels=["topic"])
            for topic, n in sorted(self.messages.items()):
                msgs.add_metric([topic], n)
            yield msgs
            rej = CounterMetricFamily("ether_messages_rejected", "Messages a subscriber refused",
                                      labels=["topic", "reason"])
            for (topic, reason), n in sorted(self.rejected.items()):
                rej.add_metric([topic, reason], n)
            yield rej
            yield from self._devices(CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily)
            yield from self._processes(CounterMetricFamily, GaugeMetricFamily)

    def _devices(self, counter: Any, gauge: Any, histogram: Any) -> Iterator[Any]:
        devices = self.status.devices if self.status is not None else {}
        fin = counter("ether_device_frames_in", "Valid frames received from a device", labels=["device"])
        fout = counter("ether_device_frames_out", "Frames written to a device's link", labels=["device"])
        bad = counter("ether_device_frames_bad", "Frames dropped as damaged", labels=["device", "reason"])
        gaps = counter("ether_device_sequence_gaps", "Readings lost on the link (sequence gaps)",
                       labels=["device"])
        deliveries = counter("ether_device_deliveries", "DELIVERs to a device by outcome",
                             labels=["device", "outcome"])
        attached = gauge("ether_device_attached", "1 while the device is attached", labels=["device"])
        for name, d in sorted(devices.items()):
            c = d.get("counters") or {}
            fin.add_metric([name], c.get("frames_in", 0))
            fout.add_metric([name], c.get("frames_out", 0))
            for key in BAD_FRAME_COUNTERS:
                bad.add_metric([name, key.removesuffix("_errors")], c.get(key, 0))
            gaps.add_metric([name], c.get("sequence_gaps", 0))
            deliveries.add_metric([name, "acked"], c.get("delivered", 0))
            deliveries.add_metric([name, "failed"], c.get("delivery_failures", 0))
            attached.add_metric([name], 1.0 if d.get("attached") else 0.0)
        yield from (fin, fout, bad, gaps, deliveries, attached)
        rtt = histogram("ether_device_round_trip_seconds", "Round-trip time of PING/PONG", labels=["device"])
        for name, hist in sorted(self.rtt.items()):
            rtt.add_metric([name], hist.cumulative(), hist.sum)
        yield rtt

    def _processes(self, counter: Any, gauge: Any) -> Iterator[Any]:
        children = self.status.children if self.status is not None else []
        restarts = counter("ether_process_restarts", "Restarts of a process by its policy",
                           labels=["name", "kind"])
        up = gauge("ether_process_up", "1 while the process runs", labels=["name", "kind"])
        for c in children:
            labels = [str(c.get("name")), str(c.get("kind"))]
            restarts.add_metric(labels, c.get("restarts", 0))
            up.add_metric(labels, 1.0 if c.get("state") == "running" else 0.0)
        yield from (restarts, up)
        rec = self.status.recorder if self.status is not None else {}
        if rec:
            rows = counter("ether_recorder_rows", "Rows the recorder committed")
            rows.add_metric([], rec.get("committed", 0))
            pending = gauge("ether_recorder_pending_rows", "Rows received and not yet committed")
            pending.add_metric([], rec.get("pending", 0))
            yield from (rows, pending)
        lag = self.lag.lag_s()
        if lag is not None:
            g = gauge("ether_recorder_lag_seconds", "Time the recorder needs to commit what it received")
            g.add_metric([], lag)
            yield g


def serve(metrics: RigMetrics, host: str, port: int) -> Any:
    """Start the HTTP server on its own thread; the server (``shutdown()`` it)."""
    try:
        from prometheus_client import CollectorRegistry, start_http_server
    except ImportError as exc:
        raise MissingExtra(METRICS_HINT) from exc
    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server


def main(ctx: ServiceContext) -> int:
    cfg = ctx.config.metrics
    if cfg is None:
        return 0
    metrics = RigMetrics()
    try:
        server = serve(metrics, cfg.host, cfg.port)
    except (MissingExtra, OSError) as exc:
        log.error("metrics: cannot serve http://%s:%d/metrics: %s", cfg.host, cfg.port, exc)
        return 1
    ctx.client.subscribe(topics.SHUTDOWN)
    sampler = Sampler(ctx.addresses, [""], name="metrics")
    requester: Requester | None = None
    try:
        sampler.start()
        ctx.ready(port=cfg.port)
        requester = Requester(ctx.addresses, "metrics")
        log.info("metrics: serving http://%s:%d/metrics", cfg.host, cfg.port)
        next_ask = 0.0
        while not ctx.stop.is_set() and ctx.tap_alive():
            for env in sampler.poll(0.2):
                metrics.on_message(env)
            if ctx.client.poll(0) and ctx.client.recv(0) is not None:
                break  # Ether.shutdown
            if time.monotonic() >= next_ask:
                next_ask = time.monotonic() + cfg.interval_s
                try:
                    status: FabricStatus | None = ask_status(requester, timeout=min(2.0, cfg.interval_s * 2))
                except (TimeoutError, RemoteError):
                    status = None  # the launcher is busy (shutting down): keep the last answer
                metrics.update(sampler, status)
    finally:
        server.shutdown()
        if requester is not None:
            requester.close()
        sampler.close()
    return 0
