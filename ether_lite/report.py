"""The rare paths of a Node: answers to bad input (PROTOCOL.md section 5), failed deliveries and
readings, link errors, and diagnostics written locally.

A board does not keep this module: ``ether_lite.node`` imports it when something went wrong and drops it
again (``node._drop``), so its code and texts cost RAM only while an answer is being made. The price is
a short load from flash on each such event, which a healthy device never pays.
"""

import sys

try:
    from micropython import const
except ImportError:  # CPython: every const here is an int
    const = int


_ACK = const(4)
_ERROR = const(8)
_VERSION = const(1)
_DEVICE_SUBSCRIBES = const(1)
_ACK_UNKNOWN_TOPIC = const(1)
_ACK_BAD_ARGUMENTS = const(2)
_ACK_HANDLER_RAISED = const(3)
_ERR_VERSION = const(1)
_ERR_MALFORMED = const(2)
_ERR_UNKNOWN_TOPIC = const(3)
_ERR_BAD_ARGUMENTS = const(4)
_ERR_OVERSIZE = const(5)
_ERR_INTERNAL = const(7)
_ERROR_LEVEL = const(40)
_MAX_ENDPOINTS = const(32)
_MAX_MSG_ID = const(65535)
_TEXT_MAX = const(200)  # bytes of UTF-8 text in one ERROR or ACK frame (with its details, <= 256 B)

# positions in an endpoint list (ether_lite.startup)
_NAME = const(2)
_DIR = const(3)
_FIELDS = const(4)


def fit(text, limit):
    """``text`` in at most ``limit`` bytes of UTF-8: cut on a character boundary and ended with '…'."""
    text = str(text)
    b = text.encode("utf-8")
    if len(b) > limit:
        k = limit - 3
        while k and (b[k] & 0xC0) == 0x80:
            k -= 1
        text = str(b[:k], "utf-8") + "\u2026"
    return text


def stderr(text):
    """Local diagnostics go to stderr where there is one: stdout may be the link itself."""
    err = getattr(sys, "stderr", None)
    if err:
        err.write(text + "\n")
    else:
        print(text)


def error(node, code, text, detail=()):
    """An ERROR frame; text beyond 200 bytes of UTF-8 is cut, so that it always fits a frame."""
    node.send([_ERROR, code, fit(text, _TEXT_MAX)] + list(detail))


def bad_message(node, msg):
    """Answer a body that is not a well-formed PING, QUERY or DELIVER: ``msg`` is what it decoded to, or
    the CBORDecodeError it raised."""
    if isinstance(msg, ValueError):
        return error(node, _ERR_MALFORMED, "undecodable CBOR body: %s" % msg)
    if not (isinstance(msg, list) and msg and _uint(msg[0])):
        return error(node, _ERR_MALFORMED, "body is not an array [h, ...]")
    h = msg[0]
    if h >> 4:
        if h & 0x0F != _ERROR:
            v = (h >> 4) + 1
            error(node, _ERR_VERSION, "protocol version %d; the device speaks %d" % (v, _VERSION), (v, _VERSION))
    elif h == _ERROR:
        stderr("ether_lite: host reports %r" % (msg[1:],))
    elif h == 3 and len(msg) >= 3 and _uint(msg[1]) and _uint(msg[2]):  # DELIVER
        error(node, _ERR_MALFORMED, "DELIVER topic %d or msg_id %d out of range" % (msg[1], msg[2]))
    else:  # a malformed PING/QUERY/DELIVER, or a kind a device does not receive
        error(node, _ERR_MALFORMED, "not a message for a device: %r" % (msg,))


def delivery_failed(node, ep, topic_id, msg_id, values, exc, ack):
    """A DELIVER that could not be served: no subscriber, values that do not fit it, or (``exc``) its
    handler raised. ACKed with the reason (``ack``: ``ether_lite.receive.ack``, which remembers it for a
    retransmission), or reported as an ERROR when no ACK was asked for."""
    if exc is not None:
        status = _ACK_HANDLER_RAISED
        text = "%s: %s" % (type(exc).__name__, exc)
        node.log(ep[_NAME] + " raised " + text, _ERROR_LEVEL)
    elif ep is None or ep[_DIR] != _DEVICE_SUBSCRIBES:
        status = _ACK_UNKNOWN_TOPIC
        text = "no subscriber with topic id %d" % topic_id
    else:
        status = _ACK_BAD_ARGUMENTS
        if ep[_FIELDS] is None:  # the host sends one map of keyword arguments
            text = ep[_NAME] + " takes one map of keyword arguments (text keys)"
        else:
            text = "%s takes values %r, got %d" % (ep[_NAME], ep[_FIELDS], len(values))
    if msg_id:
        ack(node, msg_id, status, fit(text, _TEXT_MAX))
    else:
        error(node, (_ERR_UNKNOWN_TOPIC, _ERR_BAD_ARGUMENTS, _ERR_INTERNAL)[status - 1], text, (topic_id,))


def pub_failed(node, ep, result, exc):
    """A reading that could not be published: too big for a frame, or not what the fields say."""
    if isinstance(exc, ValueError):  # CBOREncodeError
        error(node, _ERR_OVERSIZE, "PUB of %s dropped: %s" % (ep[_NAME], exc), (ep[1],))
    else:
        error(node, _ERR_BAD_ARGUMENTS, "%s returned %r; its fields are %r" % (ep[_NAME], result, ep[_FIELDS]),
              (ep[1],))


def link_errors(node, dec):
    """The ERROR that reports frames the link corrupted (the Node sends it at most once a second)."""
    c = (dec.crc_errors, dec.cobs_errors, dec.oversize)
    error(node, _ERR_MALFORMED, "frames dropped: crc %d, cobs %d, oversize %d" % c, c)


def _uint(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0
