"""An instance for the settings tests: it logs at DEBUG when it starts (seen at ETHER_LOG_LEVEL=DEBUG)."""

from __future__ import annotations

import logging

from ether_medium import ether_pub, ether_start

log = logging.getLogger(__name__)


class Chatty:
    @ether_start()
    def hello(self) -> None:
        log.debug("chatty says hello at DEBUG")

    @ether_pub(topic="chatty", every=0.05)
    def beat(self) -> dict:
        return {"ok": True}
