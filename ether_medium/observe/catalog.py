"""The message type of each topic, where something declares one: the devices' DESCRIBE (asked of their
bridges, with field types) and the running config's instances' validation models (subscriber signatures,
publisher return annotations; see :mod:`ether_medium.wiring`). The config is the file the launcher was given
(it says which in ``Ether.status``), or the one named with ``--config``."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

from ether_medium import topics
from ether_medium.bridge.endpoints import type_name
from ether_medium.config import load_config
from ether_medium.errors import ClassPathError, ConfigError, RemoteError
from ether_medium.fabric.broker import BrokerAddresses
from ether_medium.fabric.requests import Requester
from ether_medium.observe.status import ask_status

__all__ = ["Catalog"]

@dataclass(slots=True)
class Catalog:
    types: dict[str, dict[str, str]] = field(default_factory=dict)  # topic -> field -> type name
    origins: dict[str, str] = field(default_factory=dict)  # topic -> what declared it
    device_subscribers: dict[str, str] = field(default_factory=dict)  # topic -> device name
    described: dict[str, dict[str, Any]] = field(default_factory=dict)  # topic -> its DESCRIBE entry
    required: dict[str, frozenset[str]] = field(default_factory=dict)  # topic -> fields subscribers need
    required_by: dict[str, str] = field(default_factory=dict)  # topic -> the subscribers that need them
    notes: list[str] = field(default_factory=list)

    def type_of(self, topic: str) -> dict[str, str] | None:
        return self.types.get(topic)

    def origin_of(self, topic: str) -> str | None:
        return self.origins.get(topic)

    def add_device(self, device: str, description: dict[str, Any]) -> None:
        for ep in description.get("endpoints") or []:
            topic = str(ep.get("topic"))
            fields = ep.get("fields")
            self.described[topic] = ep
            if ep.get("direction") == "sub":
                self.device_subscribers[topic] = device
            if fields is None:
                continue
            self.types[topic] = {str(f[0]): type_name(str(f[1])) for f in fields}
            self.origins[topic] = f"device {device} (DESCRIBE)"

    def add_config(self, path: str) -> None:
        from ether_medium.wiring import endpoints_of

        try:
            endpoints, notes = endpoints_of(load_config(path))
        except (ConfigError, ClassPathError) as exc:
            self.notes.append(f"types from {path} not used: {exc}")
            return
        self.notes.extend(notes)
        for ep in sorted(endpoints, key=lambda e: e.role != "sub"):  # a subscriber's model is the validator
            if ep.role == "sub" and not ep.device and ep.required:
                self.required[ep.topic] = self.required.get(ep.topic, frozenset()) | ep.required
                where = self.required_by.get(ep.topic)
                self.required_by[ep.topic] = f"{where}, {ep.where}" if where else ep.where
            if ep.fields is None or ep.topic in self.types or ep.device:
                continue
            self.types[ep.topic] = dict(ep.fields)
            self.origins[ep.topic] = ep.where

    @classmethod
    def of_fabric(
        cls, addresses: BrokerAddresses, config: str | None = None, timeout: float = 2.0
    ) -> Catalog:
        """Ask the running fabric's bridges for their devices' descriptions (and read ``config``)."""
        cat = cls()
        requester = Requester(addresses, "observer")
        try:
            status = ask_status(requester, timeout)
            if config is None and status.config and status.cwd:  # the running config, as the launcher has it
                path = os.path.join(status.cwd, status.config)
                if os.path.isfile(path):
                    config = path
                    if status.cwd not in sys.path:
                        sys.path.insert(0, status.cwd)
            for device in status.devices:
                try:
                    cat.add_device(device, requester.get(topics.BRIDGE_PREFIX + device, timeout,
                                                         {"what": "describe"}))
                except (TimeoutError, RemoteError) as exc:
                    cat.notes.append(f"device {device}: no description ({exc})")
        except TimeoutError as exc:
            cat.notes.append(f"the launcher did not answer Ether.status: {exc}")
        finally:
            requester.close()
        if config is not None:
            cat.add_config(config)
        return cat
