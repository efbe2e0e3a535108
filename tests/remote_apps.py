"""A decorated class the multi-machine tests run on the "remote" launcher (imported by class path)."""

from __future__ import annotations

import logging
import os

from ether_medium import ether_init, ether_pub, ether_save, ether_shutdown, ether_start, ether_sub

log = logging.getLogger("ether")


class Pinger:
    """Says hello on start, answers ``local.ping`` on ``remote.pong``, notes its phases in ``path``."""

    def __init__(self, path: str):
        self.path = path

    def _note(self, what: str) -> None:
        with open(self.path, "a") as fh:
            fh.write(what + "\n")

    @ether_init()
    def on_init(self) -> None:
        self._note("init")

    @ether_start()
    @ether_pub(topic="remote.hello")
    def hello(self) -> dict:
        self._note("start")
        log.info("remote pinger started in PID %d", os.getpid())
        return {"pid": os.getpid()}

    @ether_sub(topic="local.ping")
    @ether_pub(topic="remote.pong")
    def pong(self, n: int) -> dict:
        return {"n": n, "pid": os.getpid()}

    @ether_save()
    def on_save(self) -> None:
        self._note("save")

    @ether_shutdown()
    def on_shutdown(self) -> None:
        self._note("shutdown")
