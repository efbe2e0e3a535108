"""Hold a board as an object in host code: ``thermo = ether.device("thermo1")``.

* ``thermo.set_led(on=True)`` sends to the device subscriber ``set_led`` (a DELIVER through its bridge) and
  returns once the device acknowledged it (the round trip in seconds), or raises
  :class:`DeliveryError` with the bridge's reason (not attached, refused arguments, no ACK after every
  retry, the handler raised) or ``TimeoutError`` if no bridge answered;
* ``thermo.last["Thermometer.read"]`` (or ``thermo.read``, the method's name) is the last value the device
  published on that topic, ``None`` until one arrived; :meth:`DeviceProxy.wait` waits for the next one.
  A board's array arrives as a read-only ndarray, and an ndarray (or a list) may be sent to an array field
  (docs/arrays.md, "From and to a board");
* ``thermo.info`` is the description its bridge gave (device id, firmware, boot id, endpoints).

The proxy talks to the bridge process over the fabric (requests on :func:`~ether_medium.bridge.service.
bridge_topic` and on the subscriber topics, with ``reply_to``), so it works from the tap process and from
any instance process. Only data from this device (``source`` = its name) count as its last values.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import zmq
from cbor2 import CBORTag

from ether_medium import topics
from ether_medium.bridge.service import bridge_topic
from ether_medium.errors import ArrayError, DeliveryError, EnvelopeError, RemoteError
from ether_medium.fabric.broker import BrokerAddresses
from ether_medium.fabric.client import FabricClient
from ether_medium.fabric.requests import requester_for

__all__ = ["DeliveryError", "DeviceProxy", "device"]


class DeviceProxy:
    def __init__(self, name: str, addresses: BrokerAddresses, caller: str, timeout: float = 10.0) -> None:
        self.name = name
        self._addresses = addresses
        self._caller = caller
        self.last: dict[str, dict[str, Any] | None] = {}
        self._cond = threading.Condition()
        self._counts: dict[str, int] = {}
        self._closed = threading.Event()
        self.info: dict[str, Any] = {}
        self.refresh(timeout)
        self._listener_ready = threading.Event()
        self._thread = threading.Thread(target=self._listen, name=f"ether-device-{name}", daemon=True)
        self._thread.start()
        if not self._listener_ready.wait(timeout):
            raise TimeoutError(
                f"ether.device({name!r}): could not subscribe to its topics within {timeout} s"
            )

    # -- description ------------------------------------------------------------------------------------
    def _ask(self, what: str, timeout: float) -> dict[str, Any]:
        req = requester_for(self._addresses, self._caller)
        try:
            value = req.get(bridge_topic(self.name), timeout, {"what": what})
        except TimeoutError as exc:
            raise TimeoutError(
                f"no bridge for device {self.name!r} answered within {timeout} s: is {self.name!r} in the "
                f"devices: section of the config that was tapped?"
            ) from exc
        if not isinstance(value, dict):
            raise RuntimeError(f"the bridge of {self.name!r} answered {value!r} to {what!r}")
        return value

    def refresh(self, timeout: float = 10.0) -> dict[str, Any]:
        """Ask the bridge for the device's description; waits up to ``timeout`` for it to be attached (the
        bridge announces each attach on ``Ether.device``: that wakes the wait, nothing is polled)."""
        deadline = time.monotonic() + timeout
        info = self._ask("describe", timeout)
        if not info.get("attached"):
            info = self._wait_attached(info, deadline)
        self.info = info
        with self._cond:
            for ep in info.get("endpoints") or []:
                if ep["direction"] == "pub":
                    self.last.setdefault(ep["topic"], None)
        return info

    def _wait_attached(self, info: dict[str, Any], deadline: float) -> dict[str, Any]:
        """Listen for the bridge's next ``Ether.device`` announcement of this device until ``deadline``; the
        description then (or ``info`` when none came)."""
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        client = FabricClient(self._addresses, f"{self._caller}.device.{self.name}.attach", context=ctx)
        try:
            client.subscribe(topics.DEVICE)
            try:
                client.handshake(max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                return info
            # it may have attached while this subscribed: ask once more, then only when it announces itself
            info = self._ask("describe", max(0.1, deadline - time.monotonic()))
            while not info.get("attached"):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    env = client.recv(timeout=left)
                except EnvelopeError:
                    continue
                if env is not None and env.topic == topics.DEVICE and env.source == self.name:
                    info = self._ask("describe", max(0.1, deadline - time.monotonic()))
            return info
        finally:
            client.close(bye=False)
            ctx.term()

    @property
    def attached(self) -> bool:
        return bool(self.info.get("attached"))

    def counters(self, timeout: float = 5.0) -> dict[str, int]:
        """The link counters (the bridge also logs them)."""
        return {k: int(v) for k, v in self._ask("counters", timeout).items()}

    def _endpoint(self, key: str, direction: str) -> dict[str, Any] | None:
        for ep in self.info.get("endpoints") or []:
            if ep["direction"] == direction and key in (ep["topic"], ep["name"], ep["method"]):
                return dict(ep)
        return None

    # -- sending ----------------------------------------------------------------------------------------
    def send(self, subscriber: str, timeout: float = 5.0, **data: Any) -> float:
        """Deliver ``data`` to a device subscriber (method name or topic); returns the round trip (s)."""
        if self._closed.is_set():
            raise RuntimeError(
                f"device {self.name!r}: this proxy was closed (by ether.shutdown()); after tapping again, "
                f"call ether.device({self.name!r}) for a new one"
            )
        ep = self._endpoint(subscriber, "sub")
        if ep is None:
            self.refresh(min(timeout, 2.0))
            ep = self._endpoint(subscriber, "sub")
        if ep is None:
            subs = [e["method"] for e in self.info.get("endpoints") or [] if e["direction"] == "sub"]
            state = "" if self.attached else f" (not attached: {self.info.get('last_detach_reason')})"
            raise AttributeError(
                f"device {self.name!r} has no subscriber {subscriber!r}{state}; it has: "
                f"{', '.join(subs) or 'none'}"
            )
        if any(type(v).__module__ == "numpy" for v in data.values()):  # ndarrays go inline, as the fabric's
            from ether_medium.fabric.arrays import outgoing

            data = outgoing(data, ep["topic"], shared=False) or data
        req = requester_for(self._addresses, self._caller)
        try:
            value = req.get(ep["topic"], timeout, data)
        except RemoteError as exc:
            raise DeliveryError(self.name, ep["topic"], str(exc).partition(": ")[2] or str(exc)) from exc
        except TimeoutError as exc:
            raise TimeoutError(
                f"device {self.name!r}: no answer from its bridge about {ep['topic']} within {timeout} s"
            ) from exc
        return float(value.get("rtt_s") or 0.0) if isinstance(value, dict) else 0.0

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        if self._endpoint(attr, "sub") is not None:

            def call(timeout: float = 5.0, **data: Any) -> float:
                return self.send(attr, timeout=timeout, **data)

            call.__name__ = attr
            return call
        ep = self._endpoint(attr, "pub")
        if ep is not None:
            with self._cond:
                return self.last.get(ep["topic"])
        names = sorted({e["method"] for e in self.info.get("endpoints") or []})
        raise AttributeError(
            f"device {self.name!r} has no endpoint {attr!r}; it has: {', '.join(names) or 'none'}"
        )

    # -- receiving ----------------------------------------------------------------------------------------
    def wait(self, publisher: str, timeout: float = 5.0, where: Any = None) -> dict[str, Any]:
        """A value published on ``publisher`` (method name or topic): without ``where``, the next one
        after this call; with ``where``, the last one if ``where(last)`` is true, else the next that is."""
        ep = self._endpoint(publisher, "pub")
        topic = ep["topic"] if ep is not None else publisher
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = self._counts.get(topic, 0)
            if where is not None:
                seen -= 1
            while True:
                value = self.last.get(topic)
                if self._counts.get(topic, 0) > seen and value is not None:
                    if where is None or where(value):
                        return value
                    seen = self._counts.get(topic, 0)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"device {self.name!r} published nothing on {topic} within {timeout} s"
                    )
                self._cond.wait(left)

    def _listen(self) -> None:
        # its own ZeroMQ context: a proxy nobody closed must not block the process's shared context at exit
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        client = FabricClient(self._addresses, f"{self._caller}.device.{self.name}", context=ctx)
        try:
            pub_topics = {ep["topic"] for ep in self.info.get("endpoints") or [] if ep["direction"] == "pub"}
            for topic in pub_topics:
                client.subscribe(topic)
            client.handshake()
            self._listener_ready.set()
            while not self._closed.is_set():
                try:
                    env = client.recv(timeout=0.1)
                except EnvelopeError:
                    continue
                if env is None or env.source != self.name:
                    continue
                data = _with_arrays(env.data)
                with self._cond:
                    self.last[env.topic] = data
                    self._counts[env.topic] = self._counts.get(env.topic, 0) + 1
                    self._cond.notify_all()
        finally:
            client.close(bye=False)
            ctx.term()

    def close(self) -> None:
        self._closed.set()
        self._thread.join(2.0)

    def __repr__(self) -> str:
        state = "attached" if self.attached else "detached"
        return f"<device {self.name!r} {self.info.get('device_id')!r} {state}>"


def _with_arrays(data: dict[str, Any]) -> dict[str, Any]:
    """A device's data with its arrays (the fabric's inline form, which the bridge makes of a board's typed
    arrays) as read-only ndarrays; an array that does not decode stays as it came."""
    if not any(type(v) is CBORTag for v in data.values()):
        return data
    from ether_medium.fabric.arrays import MULTI_TAG, from_wire

    out = dict(data)
    for key, value in data.items():
        if type(value) is CBORTag and value.tag == MULTI_TAG:
            with contextlib.suppress(ArrayError):
                out[key] = from_wire(value, f"field {key!r}")
    return out


_proxies: dict[tuple[str, str], DeviceProxy] = {}
_lock = threading.Lock()


def device(name: str, addresses: BrokerAddresses, caller: str, timeout: float = 10.0) -> DeviceProxy:
    """The proxy of device ``name`` on the fabric at ``addresses``, asked for by ``caller`` (one per fabric
    and process; waits up to ``timeout`` for it to attach). ``ether.device(name)`` is the way to call it."""
    key = (addresses.publish, name)
    with _lock:
        proxy = _proxies.get(key)
        if proxy is None or proxy._closed.is_set():
            proxy = _proxies[key] = DeviceProxy(name, addresses, caller, timeout)
        return proxy


def close_all() -> None:
    """Stop every proxy's listener (``ether.shutdown`` should call this)."""
    with _lock:
        proxies = list(_proxies.values())
        _proxies.clear()
    for p in proxies:
        p.close()
