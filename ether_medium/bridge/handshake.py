"""The handshake: what the HELLO and DESCRIBEs of a device do to its link (PROTOCOL.md, HELLO, DESCRIBE).

:class:`Handshake` takes each HELLO, DESCRIBE and frame of another protocol version that
:class:`~ether_medium.bridge.inbound.Inbound` decoded, and moves the link manager through its states
(:mod:`~ether_medium.bridge.states`): a HELLO is checked (:class:`~ether_medium.bridge.identity.Identity`:
the right board? another boot?) and makes the link ``describing``; the DESCRIBEs are recorded by
:class:`~ether_medium.bridge.attach.Attach`, and when all arrived (or after ``attach_s``) the link is
``attached`` and its endpoints are mapped. A DESCRIBE after attaching (fields now known, a topic that was
missing) updates the map; a HELLO of another protocol version makes the link ``incompatible``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ether_lite import protocol
from ether_medium.bridge.endpoints import Endpoint
from ether_medium.bridge.states import ATTACHED, CONNECTED, DESCRIBING, INCOMPATIBLE
from ether_medium.problems import shown

if TYPE_CHECKING:
    from ether_medium.bridge.manager import LinkManager

__all__ = ["Handshake"]


class Handshake:
    """HELLO and DESCRIBE of the link of ``owner``."""

    def __init__(self, owner: LinkManager) -> None:
        self.owner = owner

    def hello(self, msg: list[Any], now: float) -> None:
        o = self.owner
        why = o.identity.invalid(msg)
        if why is not None:
            o.inbound.bad_body(b"", why, now)
            return
        link = o.link
        if link.datagram and o.identity.wrong_id(msg[1]):
            # anyone may send a datagram: a HELLO of another board is dropped (counted, logged 1/s); the
            # link stays open, and the board attached (if any) stays attached
            o.counters.wrong_hellos += 1
            o.problems.report(
                "wrong device",
                f"dropped a HELLO from {link.where} with device id {shown(msg[1])}, not "
                f"{o.identity.want_id or (o.info and o.info.device_id)!r}",
            )
            return
        if o.identity.wrong(msg[1], link.where, o.conn.multi_port()):
            o.detach(f"wrong device {msg[1]!r}", now)
            link.reject_current()
            o.schedule_reopen(now)
            return
        if o.state == INCOMPATIBLE:
            o.log.info("%s: the device now speaks protocol version %d", o.name, protocol.VERSION)
        if o.identity.accept(msg):  # a first HELLO, or another boot: nothing learnt before holds
            if o.state == ATTACHED:
                o.detach("device reset", now)
            o.clock.reset(msg[5])
            o.attach.new_boot()
            o.ingest.new_boot()
            o.set_endpoints({})
        link.keep_peer()  # a datagram link: from now on only this address is heard
        if o.conn.ping_at is None:
            o.send(protocol.ping(o.conn.next_ping(now)))
        # Within one boot what the device described stays true: DESCRIBEs received before (before the link
        # dropped, or before this HELLO when that was lost) count. A HELLO of the same boot changes nothing.
        early = o.attach.hello(msg[4], now)
        if o.state == ATTACHED:
            return
        o.state = DESCRIBING
        for d in early:
            self._describe(d, now, early=True)
            if o.state != DESCRIBING:
                return
        if o.attach.complete:
            o.attached_now(now)

    def describe(self, msg: list[Any], now: float) -> None:
        o = self.owner
        if o.info is None or o.state in (CONNECTED, INCOMPATIBLE):
            # Its HELLO was lost (or not sent yet): keep it for the HELLO that a QUERY brings, so a noisy
            # link need not carry HELLO and every DESCRIBE of one answer intact.
            if len(msg) > 1 and type(msg[1]) is int and msg[1] < protocol.MAX_ENDPOINTS:
                o.attach.early(msg[1], msg, now)
            return
        self._describe(msg, now)

    def _describe(self, msg: list[Any], now: float, early: bool = False) -> None:
        o = self.owner
        ep = o.attach.describe(msg, now, early=early)
        if ep is not None and o.state == ATTACHED:  # described again (fields now known), or a missing one
            self._redescribe(ep)
        elif o.state == DESCRIBING and o.attach.complete:
            o.attached_now(now)

    def refuse_describe(self, tid: int, why: str, now: float) -> None:
        """A DESCRIBE of topic id ``tid`` that ``protocol.check`` refused (``why``)."""
        o = self.owner
        o.attach.refuse(tid, why, now, known=o.state in (DESCRIBING, ATTACHED))
        if o.state == DESCRIBING and o.attach.complete:
            o.attached_now(now)

    def _redescribe(self, ep: Endpoint) -> None:
        o = self.owner
        old = o.endpoints.get(ep.topic_id)
        o.set_endpoints({**o.endpoints, ep.topic_id: ep})
        if o.attach.log_redescribed(old, ep):
            o.sink.attached(o)  # a new topic: the fabric side subscribes it

    def version_mismatch(self, theirs: int, msg: Any, now: float) -> None:
        """A frame of protocol version ``theirs``: the link is incompatible until a HELLO of this version."""
        o = self.owner
        if o.state != INCOMPATIBLE:
            if o.state == ATTACHED:
                o.detach(f"protocol version {theirs}", now)
            o.state = INCOMPATIBLE
            o.incompatible_query_at = now + o.timing.incompatible_query_s
            o.attach.stop()
            o.conn.stop_pings()
            o.inbound.other_version(theirs, msg, now, first=True)
        else:
            o.inbound.other_version(theirs, msg, now, first=False)
