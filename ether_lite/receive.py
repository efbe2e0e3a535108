"""What a Node receives beyond PING and QUERY, once ``ether_lite.cbor_decoder`` decoded it: a DELIVER served
once per msg_id and ACKed, a QUERY for some topic ids answered with their DESCRIBEs, anything else answered
by ``ether_lite.report`` (PROTOCOL.md section 5).

A board does not keep this module: ``Node._handle`` reads the PINGs and QUERYs a host sends all the time
straight from their bytes, and for the rest imports the decoder, decodes, drops it, then imports this module
and drops it again (``ether_lite.node._drop``, with ``ether_lite.report`` if an answer needed it): one of the
two in RAM at a time. A DELIVER, someone acting on the device, is rare next to the PINGs.
"""

from ether_lite import clock

try:
    from micropython import const
except ImportError:  # CPython: every const here is an int
    const = int


_DELIVER = const(3)
_ACK = const(4)
_PING = const(5)
_PONG = const(6)
_QUERY = const(9)
_DEVICE_SUBSCRIBES = const(1)
_ERR_UNKNOWN_TOPIC = const(3)
_MAX_ENDPOINTS = const(32)
_MAX_MSG_ID = const(65535)
_DEDUP = const(8)  # msg_ids remembered to re-ACK retransmitted DELIVERs (the ring: ether_lite.startup)

# positions in an endpoint list (ether_lite.startup)
_DIR = const(3)
_FIELDS = const(4)
_OBJ = const(6)
_ATTR = const(7)


def handle(node, msg):
    """Answer a message ``node`` received: what its body decoded to, or the CBORDecodeError it raised."""
    if isinstance(msg, list) and msg and _uint(msg[0]):
        h = msg[0]
        n = len(msg)
        if h == _PING and n == 2 and _uint(msg[1]):  # in an encoding Node._handle does not read
            return node.send([_PONG, msg[1], clock.ticks_ms()])
        if h == _QUERY and n <= 1 + _MAX_ENDPOINTS:
            if n == 1:  # in an encoding Node._handle does not read
                return node.hello()
            for t in msg[1:]:
                if not _uint(t) or t >= _MAX_ENDPOINTS:
                    break
            else:
                return describe(node, msg)
        if (h == _DELIVER and n >= 3 and _uint(msg[1]) and _uint(msg[2]) and msg[1] < _MAX_ENDPOINTS
                and msg[2] <= _MAX_MSG_ID):
            return deliver(node, msg[1], msg[2], msg[3:])
    from ether_lite import report  # Node._handle drops it again, with this module

    report.bad_message(node, msg)


def describe(node, query):
    """Answer ``[9, topic_id, ...]``: the DESCRIBEs of those topic ids in that order, back to back (no HELLO);
    then, for the first topic id the device does not have, ERROR 3."""
    eps = node.endpoints
    for t in query[1:]:
        if t < len(eps):
            node.send(eps[t][:6])
    for t in query[1:]:
        if t >= len(eps):
            from ether_lite import report

            return report.error(node, _ERR_UNKNOWN_TOPIC, "no endpoint with topic id %d" % t, (t,))


def deliver(node, topic_id, msg_id, values):
    """Run the subscriber of a DELIVER once per msg_id (a retransmission is re-ACKed, not run again) and
    ACK it; what fails is answered by ``ether_lite.report`` (an ACK with the reason, or an ERROR when no
    ACK was asked for: msg_id 0)."""
    seen = node._seen
    if msg_id:
        for i in range(0, 2 * _DEDUP, 2):
            if seen[i] == msg_id:
                return node.send([_ACK, msg_id, seen[i + 1], "duplicate"])
    eps = node.endpoints
    ep = eps[topic_id] if topic_id < len(eps) else None
    kwargs = None
    if ep is not None and ep[_DIR] == _DEVICE_SUBSCRIBES:
        fields = ep[_FIELDS]
        if fields is None:  # the host sends one map of keyword arguments, with text keys
            if len(values) == 1 and isinstance(values[0], dict):
                kwargs = values[0]
                for k in kwargs:
                    if not isinstance(k, str):
                        kwargs = None
                        break
        elif len(values) == len(fields):
            kwargs = {}
            for i in range(len(values)):
                kwargs[fields[i][0]] = values[i]
    failed = None
    if kwargs is not None:
        try:
            getattr(ep[_OBJ], ep[_ATTR])(**kwargs)
        except Exception as e:  # reported to the host; the node keeps running
            failed = e
        else:
            if msg_id:
                ack(node, msg_id, 0)
            return
    from ether_lite import report

    report.delivery_failed(node, ep, topic_id, msg_id, values, failed, ack)


def ack(node, msg_id, status, text=None):
    """ACK a DELIVER, and remember its status to re-ACK a retransmission."""
    i = node._seen_next
    node._seen[i] = msg_id
    node._seen[i + 1] = status
    node._seen_next = (i + 2) % (2 * _DEDUP)
    node.send([_ACK, msg_id, status] if text is None else [_ACK, msg_id, status, text])


def _uint(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0
