"""The bridge process: one per entry of the config's ``devices:`` section (started by the launcher).

``main(ctx)`` (the service contract in :mod:`ether_medium.fabric.service`) attaches the device named by
``ctx.kwargs["device"]`` and maps it into the fabric:

* each PUB becomes a fabric message on the endpoint's topic (``Thermometer.read`` or its rename), from
  ``source`` = the device's name, with ``host_time``, ``device_time`` mapped to the host clock,
  ``device_uncertainty`` and ``device_seq`` (:mod:`ether_medium.fabric.envelope`);
* a fabric message on a device subscriber's topic becomes a DELIVER (ACK, retransmission); when it carries
  ``reply_to`` (``ether.get`` or a :class:`~ether_medium.bridge.proxy.DeviceProxy`), the outcome is
  answered there: ``{"value": {"ok": true, "rtt_s": ...}}`` or ``error``;
* on each attach, ``Ether.device`` ``{name, device_id, firmware, protocol, boot_id}`` (the recorder keeps
  device identities with the data);
* device LOG frames go to ``Ether.log`` under the device's name;
* requests on ``Ether.bridge.<name>`` (``{"what": "describe"}`` or ``{"what": "counters"}``) answer the
  device description or the link counters (which are also logged); SIGUSR1 logs the counters too;
  ``{"what": "stats"}`` answers state, counters and round-trip times without logging (``ether status``,
  the metrics exporter).

It runs until ``Ether.shutdown``, SIGTERM, or the tap process's death, then logs the link counters and
returns.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cbor2

from ether_medium import topics
from ether_medium.bridge.endpoints import Endpoint
from ether_medium.bridge.loop import BridgeLoop
from ether_medium.bridge.manager import ATTACHED, Delivery, LinkManager, Reading
from ether_medium.errors import EnvelopeError
from ether_medium.fabric.envelope import Envelope, encode, encode_device, source_prefix

if TYPE_CHECKING:
    from ether_medium.config import DeviceConfig
    from ether_medium.fabric.client import FabricClient
    from ether_medium.fabric.service import ServiceContext

__all__ = ["FabricBridge", "bridge_topic", "main"]


log = logging.getLogger("ether.bridge")


@dataclass(slots=True)
class _Outgoing:
    topic: bytes
    seq: int = 0


def bridge_topic(device: str) -> str:
    """The request topic a device's bridge answers (describe, counters)."""
    return f"Ether.bridge.{device}"


class FabricBridge:
    """A :class:`LinkManager`'s sink that publishes into the fabric, and the fabric's way back to it."""

    def __init__(self, name: str, cfg: DeviceConfig, client: FabricClient, loop: BridgeLoop) -> None:
        self.name = name
        self.client = client
        self.loop = loop
        self.mgr = LinkManager(
            name,
            cfg.link,
            self,
            device_id=cfg.device_id,
            key=cfg.secret(),
            renames=cfg.topics,
            logger=log,
            ping_interval_s=cfg.ping_interval_s,
            lease_s=cfg.lease_s,
        )
        self._subscribed: set[str] = set()
        self._prefix = source_prefix(name)
        self._out: dict[str, _Outgoing] = {}  # per fabric topic: its bytes and the envelope's next seq
        self._readings: list[bytes] = []  # topic, body, topic, body, ...: published by flush()
        self._pid = os.getpid()
        self._detaches = 0
        self.stopping = False
        self._detach_reason: str | None = None
        loop.add(self.mgr)
        loop.add_socket(client.socket, self.on_fabric)
        loop.add_flush(self.flush)
        client.subscribe(topics.SHUTDOWN)
        client.subscribe(bridge_topic(name))

    def _publish(self, topic: str, data: dict[str, Any], **fields: Any) -> None:
        """Publish a message of this bridge's own (after the readings gathered before it)."""
        self.flush()
        self.client.publish(topic, data, **fields)

    # -- Sink: device -> fabric -------------------------------------------------------------------------
    def attached(self, mgr: LinkManager) -> None:
        info = mgr.info
        assert info is not None
        wanted = {e.topic for e in mgr.endpoints.values() if not e.publishes}
        for topic in sorted(self._subscribed - wanted):
            self.client.unsubscribe(topic)
        for topic in sorted(wanted - self._subscribed):
            self.client.subscribe(topic)
        self._subscribed = wanted
        self._publish(
            topics.DEVICE,
            {
                "name": self.name,
                "device_id": info.device_id,
                "firmware": info.firmware,
                "protocol": info.protocol,
                "boot_id": info.boot_id,
            },
            source=self.name,
        )

    def detached(self, mgr: LinkManager, reason: str) -> None:
        # logged by the manager; subscriptions stay so that deliveries fail with a reason
        if self.stopping:
            return  # the bridge's own stop is no problem of the run
        self._detaches += 1
        self._detach_reason = reason
        self.report_health()

    def report_health(self) -> None:
        """``Ether.health`` for the run's summary: detaches and failed deliveries since the bridge started."""
        data = {
            "name": self.name,
            "pid": self._pid,
            "deliveries_failed": self.mgr.counters.delivery_failures,
            "detached": self._detaches,
            "detach_reason": self._detach_reason,
        }
        try:
            self._publish(topics.HEALTH, data, source=self.name)
        except Exception as exc:  # closed, or the fabric is gone: the run's summary misses it, say so here
            log.warning("%s: could not report its health (%s): %r", self.name, exc, data)

    def publish(self, mgr: LinkManager, ep: Endpoint, data: dict[str, Any], reading: Reading) -> None:
        # This bridge is the only publisher of its device's topics under the device's name, so it numbers
        # them itself (the envelope's seq) and sends encoded frames.
        out = self._out.get(ep.topic)
        if out is None:
            out = self._out[ep.topic] = _Outgoing(ep.topic.encode())
        device_time, uncertainty = reading.device_time, reading.uncertainty
        try:
            if device_time is None or uncertainty is None:  # not time-synced yet
                env = Envelope(
                    ep.topic, data, self.name, out.seq, reading.host_time, device_seq=reading.device_seq
                )
                body = encode(env)[1]
            else:
                body = encode_device(
                    data,
                    self._prefix,
                    out.seq,
                    reading.host_time,
                    device_time,
                    uncertainty,
                    reading.device_seq,
                )
        except (TypeError, ValueError, cbor2.CBOREncodeError) as exc:  # a value the fabric cannot carry
            mgr.counters.rejected += 1
            mgr.problems.report(f"encode {ep.topic}", f"PUB on {ep.topic} not published: {exc} ({data!r})")
            return
        out.seq += 1
        self._readings += (out.topic, body)  # sent at the end of the loop's step (flush)

    def flush(self) -> None:
        """Send the readings gathered (the loop calls this at the end of every step; every other publish of
        this bridge calls it first, so that nothing overtakes a reading)."""
        if self._readings:
            frames, self._readings = self._readings, []
            self.client.send_encoded_all(frames)

    def device_log(self, mgr: LinkManager, level: int, text: str) -> None:
        data = {
            "level": level,
            "msg": text,
            "name": self.name,
            "pid": self._pid,
            "time": time.time(),
            "logger": f"device.{self.name}",
        }
        self._publish(topics.LOG, data, source=self.name)

    # -- fabric -> device -------------------------------------------------------------------------------
    def on_fabric(self) -> None:
        for env in self.client.take_pending():
            self.handle(env)
        for _ in range(1000):  # then let the link have a turn
            try:
                got = self.client.recv(timeout=0)
            except EnvelopeError as exc:
                log.warning("%s: dropped a malformed fabric message: %s", self.name, exc)
                continue
            if got is None:
                return
            self.handle(got)

    def handle(self, env: Envelope) -> None:
        if env.topic == topics.SHUTDOWN:
            self.loop.stop()
        elif env.topic == bridge_topic(self.name):
            self.answer(env)
        elif env.topic in self._subscribed:
            self.mgr.deliver(env.topic, env.data, self._replier(env), origin=env.source)

    def _replier(self, env: Envelope) -> Any:
        reply_to, request_id = env.reply_to, env.request_id
        if reply_to is None:
            return None

        def done(d: Delivery) -> None:
            if d.error is None:
                self._publish(
                    reply_to, {"value": {"ok": True, "rtt_s": d.rtt}}, source=self.name, request_id=request_id
                )
            else:
                self._publish(
                    reply_to,
                    {},
                    source=self.name,
                    request_id=request_id,
                    error=f"{self.name}: delivery to {d.topic} failed: {d.error}",
                )

        return done

    def describe(self) -> dict[str, Any]:
        mgr = self.mgr
        info = mgr.info
        return {
            "name": self.name,
            "attached": mgr.state == ATTACHED,
            "state": mgr.state,
            "link": mgr.link.where,
            "device_id": info.device_id if info else None,
            "firmware": info.firmware if info else None,
            "protocol": info.protocol if info else None,
            "boot_id": info.boot_id if info else None,
            "endpoints": [e.as_dict() for e in sorted(mgr.endpoints.values(), key=lambda e: e.topic_id)],
            "last_detach_reason": None if mgr.state == ATTACHED else mgr.last_detach_reason,
        }

    def stats(self) -> dict[str, Any]:
        mgr = self.mgr
        return {
            "name": self.name,
            "state": mgr.state,
            "attached": mgr.state == ATTACHED,
            "link": mgr.link.where,
            "counters": mgr.counters.as_dict(),
            "rtt_s": mgr.clock.recent_rtts,
        }

    def answer(self, env: Envelope) -> None:
        what = env.data.get("what", "describe")
        value: dict[str, Any] | None
        if what == "describe":
            value = self.describe()
        elif what == "counters":
            self.mgr.report_counters()
            value = self.mgr.counters.as_dict()
        elif what == "stats":
            value = self.stats()
        else:
            value = None
        if env.reply_to is None:
            return
        if value is None:
            self._publish(
                env.reply_to,
                {},
                source=self.name,
                request_id=env.request_id,
                error=f"unknown request {what!r}; ask for 'describe', 'counters' or 'stats'",
            )
        else:
            self._publish(env.reply_to, {"value": value}, source=self.name, request_id=env.request_id)


def main(ctx: ServiceContext) -> int:
    name = str(ctx.kwargs.get("device", ctx.name.removeprefix("bridge.")))
    cfg = ctx.config.devices.get(name)
    if cfg is None:
        raise KeyError(f"{ctx.config.source}: devices.{name} is not in the config")
    loop = BridgeLoop()
    bridge = FabricBridge(name, cfg, ctx.client, loop)
    ctx.ready(device=name)

    def on_term(*_: object) -> None:
        ctx.stop.set()
        loop.stop()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGUSR1, lambda *_: loop.call_soon(bridge.mgr.report_counters))
    if ctx.stop.is_set():
        loop.stop()
    try:
        loop.run(until=lambda: not ctx.tap_alive())  # an orphaned bridge leaves (and stops its sim child)
    finally:
        bridge.stopping = True
        loop.close()  # closes the link (stops a sim child) and logs the counters
        bridge.report_health()
    return 0
