"""The device node: serves the decorated methods of some objects over one link (PROTOCOL.md).

``poll()`` does one bounded step (read what the link has, answer it, publish what is due) and never
blocks; ``run()`` loops over ``poll()``. A published reading is encoded and framed into buffers allocated
once (bench/lite.py measures 0 bytes allocated per reading by ether_lite under MicroPython).

Wire constants are private ``const``s (no RAM on MicroPython) and messages are built inline, so a board
does not load ``ether_lite.protocol``; tests/test_lite_constants.py checks every constant against it.
"""

import sys

from ether_lite import __version__, cbor, clock, framing
from ether_lite import endpoints as _eps

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):  # type: ignore[no-redef]
        return x


_HELLO = const(0)
_PUB = const(2)
_DELIVER = const(3)
_ACK = const(4)
_PING = const(5)
_PONG = const(6)
_LOG = const(7)
_ERROR = const(8)
_QUERY = const(9)
_VERSION = const(1)
_DEVICE_PUBLISHES = const(0)
_DEVICE_SUBSCRIBES = const(1)
_MAX_ENDPOINTS = const(32)
_MAX_MSG_ID = const(65535)
_SEQ_MASK = const(0x1FF)
_ACK_UNKNOWN_TOPIC = const(1)
_ACK_BAD_ARGUMENTS = const(2)
_ACK_HANDLER_RAISED = const(3)
_ERR_VERSION = const(1)
_ERR_MALFORMED = const(2)
_ERR_UNKNOWN_TOPIC = const(3)
_ERR_BAD_ARGUMENTS = const(4)
_ERR_OVERSIZE = const(5)
_ERR_INTERNAL = const(7)
_INFO = const(20)
_ERROR_LEVEL = const(40)

_DEDUP = const(8)  # msg_ids remembered to re-ACK retransmitted DELIVERs
_REPORT_MS = const(1000)  # at most one link-error report per second
_LOG_MAX = const(240)  # bytes of UTF-8 text in one LOG frame (keeps the body <= 256 B)
_IDLE_MS = const(50)  # longest wait of run() when nothing is due

_LOGGERS = []  # running Nodes, for log()


class Node:
    """Serve ``objs`` (objects with ``ether_pub`` / ``ether_sub`` methods) over ``link``, which has
    ``readinto(buf) -> int`` (non-blocking), ``write(buf, n)`` and optionally ``connected``, ``wait(ms)``
    and ``eof`` (see ``ether_lite.links``)."""

    def __init__(self, objs, link, device_id=None, boot_id=None):
        if not isinstance(objs, (list, tuple)):
            objs = (objs,)
        self.objs = objs
        self.link = link
        self.endpoints = _eps.find_endpoints(objs)
        self._pubs = {}  # publishing function -> its endpoints
        self._timed = []
        now = clock.ticks_ms()
        for ep in self.endpoints:
            ep.due_ms = now
            if ep.direction == _DEVICE_PUBLISHES:
                self._pubs.setdefault(getattr(type(ep.obj), ep.attr), []).append(ep)
                if ep.period_ms:
                    self._timed.append(ep)
        self.device_id = device_id or _device_id(objs)
        self.boot_id = _boot_id() if boot_id is None else boot_id
        impl = sys.implementation
        self.firmware = "ether_lite %s; %s %d.%d.%d; %s" % (
            __version__, impl.name, impl.version[0], impl.version[1], impl.version[2],
            getattr(impl, "_machine", sys.platform))
        self._body = bytearray(framing.MAX_BODY)
        self._enc = cbor.Encoder(self._body)
        self._frame = bytearray(framing.MAX_FRAME)
        self._in = bytearray(64)
        self._dec = framing.FrameDecoder()
        self._seen = [0] * (2 * _DEDUP)  # ring of (msg_id, status) pairs
        self._seen_next = 0
        self._connected = False
        self._reported = 0
        self._report_ms = now
        self.sent = 0
        self.received = 0
        for ep in self.endpoints:  # fail now, not on the wire, if a description cannot fit a frame
            self._encode(ep.describe())
        for obj in objs:
            _eps._NODES[id(obj)] = self
        _LOGGERS.append(self)

    def endpoint(self, name, direction=_DEVICE_PUBLISHES):
        """The endpoint of topic ``name`` (KeyError if none)."""
        for ep in self.endpoints:
            if ep.name == name and ep.direction == direction:
                return ep
        raise KeyError(name)

    def close(self):
        for obj in self.objs:
            if _eps._NODES.get(id(obj)) is self:
                del _eps._NODES[id(obj)]
        if self in _LOGGERS:
            _LOGGERS.remove(self)

    # ------------------------------------------------------------------------------ sending

    def _encode(self, msg):
        enc = self._enc
        enc.n = 0
        try:
            enc.encode(msg)
        except cbor.CBOREncodeError:
            raise ValueError("%r does not fit one frame (%d bytes of body)" % (msg[:3], framing.MAX_BODY))

    def _send(self):
        self.link.write(self._frame, framing.encode_into(self._frame, self._body, self._enc.n))
        self.sent += 1

    def send(self, msg):
        """Encode and send one message (a list, as ``ether_lite.protocol`` builds them)."""
        self._encode(msg)
        self._send()

    def hello(self):
        """HELLO and every DESCRIBE (on start, on connect, on QUERY), after a 0x00 that flushes any
        partial frame left on the line."""
        self.link.write(b"\x00", 1)
        self.send([_HELLO, self.device_id, self.boot_id, self.firmware, len(self.endpoints), clock.TICKS_PERIOD])
        for ep in self.endpoints:
            self.send(ep.describe())

    def error(self, code, text, detail=()):
        self.send([_ERROR, code, text] + list(detail))

    def log(self, text, level=_INFO):
        """One LOG frame; text beyond 240 bytes of UTF-8 is cut (on a character boundary) and ends in '…'."""
        b = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        if len(b) > _LOG_MAX:
            k = _LOG_MAX - 3
            while k and (b[k] & 0xC0) == 0x80:
                k -= 1
            b = b[:k] + b"\xe2\x80\xa6"
        enc = self._enc
        enc.n = 0
        enc.head(4, 3)
        enc.head(0, _LOG)
        enc.head(0, level)
        enc.head(3, len(b))
        enc.raw(b)
        self._send()

    # ---------------------------------------------------------------------------- publishing

    def publish(self, method, *args, **kwargs):
        """Call a publishing method now (``node.publish(thermo.read)``); it publishes what it returns."""
        return method(*args, **kwargs)

    def published(self, obj, fn, result):
        """Called by an ``ether_pub`` method with the value it returned."""
        for ep in self._pubs.get(fn, ()):
            if ep.obj is obj:
                self._pub(ep, result)

    def _pub(self, ep, result):
        if ep.fields is None:
            ep.fields = _eps.fields_of_result(result)
            if self._connected:
                self.send(ep.describe())
        fields = ep.fields
        nf = len(fields)
        enc = self._enc
        enc.n = 0
        try:
            enc.head(4, 2 + nf)
            enc.head(0, _PUB)  # header of version 1: the kind itself
            # ref = topic_id | seq << 5 | (ticks & 0xFFFF) << 14 (protocol.pack_ref)
            enc.head(0, ep.topic_id | ep.seq << 5 | (clock.ticks_ms() & 0xFFFF) << 14)
            if isinstance(result, dict):
                for i in range(nf):
                    enc.encode(result[fields[i][0]])
            elif isinstance(result, tuple) and len(result) == nf:
                for v in result:
                    enc.encode(v)
            elif nf == 1 and not isinstance(result, tuple):
                enc.encode(result)
            else:
                raise KeyError(nf)
        except cbor.CBOREncodeError:
            return self.error(_ERR_OVERSIZE, "PUB of %s over %d bytes; dropped" % (ep.name, framing.MAX_BODY),
                              (ep.topic_id,))
        except KeyError:
            return self.error(_ERR_BAD_ARGUMENTS, "%s returned %r; its fields are %r" % (ep.name, result, fields),
                              (ep.topic_id,))
        ep.seq = (ep.seq + 1) & _SEQ_MASK
        if self._connected:
            self._send()

    # ------------------------------------------------------------------------------ the loop

    def poll(self):
        """One bounded step: (re)connect, handle received frames, publish what is due. Never blocks.
        Returns whether anything happened."""
        link = self.link
        if getattr(link, "connected", True):
            if not self._connected:
                self._connected = True
                self.hello()
        else:
            self._connected = False
        busy = False
        n = link.readinto(self._in)
        if n:
            busy = True
            dec = self._dec
            pos = 0
            while pos < n:
                pos = dec.feed(self._in, pos, n)
                if dec.length >= 0:
                    self.received += 1
                    self._handle(dec.body, dec.length)
        now = clock.ticks_ms()
        for ep in self._timed:
            if clock.ticks_diff(now, ep.due_ms) >= 0:
                ep.due_ms = clock.ticks_add(ep.due_ms, ep.period_ms)
                if clock.ticks_diff(now, ep.due_ms) >= 0:  # fell behind: restart the beat, do not burst
                    ep.due_ms = clock.ticks_add(now, ep.period_ms)
                result = ep.fn(ep.obj)
                if result is not None:
                    self._pub(ep, result)
                busy = True
        dec = self._dec
        bad = dec.crc_errors + dec.cobs_errors + dec.oversize
        if bad != self._reported and self._connected and clock.ticks_diff(now, self._report_ms) >= _REPORT_MS:
            self._reported = bad
            self._report_ms = now
            c = (dec.crc_errors, dec.cobs_errors, dec.oversize)
            self.error(_ERR_MALFORMED, "frames dropped by the device: crc %d, cobs %d, oversize %d" % c, c)
        return busy

    def next_due_ms(self):
        """Milliseconds until the next timed publication (at most 50)."""
        now = clock.ticks_ms()
        wait = _IDLE_MS
        for ep in self._timed:
            wait = min(wait, clock.ticks_diff(ep.due_ms, now))
        return max(wait, 0)

    def run(self, until=None):
        """Poll until ``until()`` is true (forever without it) or the link reports end of file
        (``link.eof``), waiting on the link between polls."""
        link = self.link
        wait = getattr(link, "wait", None)
        while (until is None or not until()) and not getattr(link, "eof", False):
            if not self.poll():
                if wait:
                    wait(self.next_due_ms())
                else:
                    clock.sleep_ms(min(self.next_due_ms(), 1))

    # ---------------------------------------------------------------------------- receiving

    def _handle(self, body, n):
        """Answer one received body (PROTOCOL.md section 5 says what to do with bad input)."""
        try:
            msg = cbor.loads(body, 0, n)
        except cbor.CBORDecodeError as e:
            return self.error(_ERR_MALFORMED, "undecodable CBOR body: %s" % e)
        if not (isinstance(msg, list) and msg and _uint(msg[0])):
            return self.error(_ERR_MALFORMED, "body is not an array starting with the header int")
        h = msg[0]
        n = len(msg)
        if h >> 4:
            if h & 0x0F != _ERROR:
                v = (h >> 4) + 1
                self.error(_ERR_VERSION, "protocol version %d received; this side speaks version %d" % (v, _VERSION),
                           (v, _VERSION))
        elif h == _PING and n == 2 and _uint(msg[1]):
            self.send([_PONG, msg[1], clock.ticks_ms()])
        elif h == _QUERY and n == 1:
            self.hello()
        elif h == _DELIVER and n >= 3 and _uint(msg[1]) and _uint(msg[2]):
            if msg[1] >= _MAX_ENDPOINTS or msg[2] > _MAX_MSG_ID:
                self.error(_ERR_MALFORMED, "DELIVER topic %d or msg_id %d out of range" % (msg[1], msg[2]))
            else:
                self._deliver(msg)
        elif h == _ERROR:
            _stderr("ether_lite: host reports %r" % (msg[1:],))
        elif h in (_PING, _QUERY, _DELIVER):
            self.error(_ERR_MALFORMED, "malformed message of kind %d: %r" % (h, msg))
        else:
            self.error(_ERR_MALFORMED, "kind %d is not one a device receives" % h)

    def _deliver(self, msg):
        topic_id = msg[1]
        msg_id = msg[2]
        seen = self._seen
        if msg_id:
            for i in range(0, 2 * _DEDUP, 2):
                if seen[i] == msg_id:  # a retransmission: re-ACK, do not run the handler again
                    return self.send([_ACK, msg_id, seen[i + 1], "duplicate"])
        status, text = self._call(topic_id, msg[3:])
        if msg_id:
            i = self._seen_next
            seen[i] = msg_id
            seen[i + 1] = status
            self._seen_next = (i + 2) % (2 * _DEDUP)
            self.send([_ACK, msg_id, status] if text is None else [_ACK, msg_id, status, text])
        elif status:
            code = (_ERR_UNKNOWN_TOPIC, _ERR_BAD_ARGUMENTS, _ERR_INTERNAL)[status - 1]
            self.error(code, text, (topic_id,))

    def _call(self, topic_id, values):
        """Run the subscriber of a DELIVER: ``(ACK status, text or None)``."""
        if topic_id >= len(self.endpoints) or self.endpoints[topic_id].direction != _DEVICE_SUBSCRIBES:
            return _ACK_UNKNOWN_TOPIC, "no subscriber with topic id %d" % topic_id
        ep = self.endpoints[topic_id]
        fields = ep.fields
        if fields is None:
            if len(values) != 1 or not isinstance(values[0], dict):
                return _ACK_BAD_ARGUMENTS, ep.name + " takes one map of keyword arguments"
            kwargs = values[0]
            for k in kwargs:
                if not isinstance(k, str):
                    return _ACK_BAD_ARGUMENTS, "%s: keyword %r is not text" % (ep.name, k)
        elif len(values) != len(fields):
            return _ACK_BAD_ARGUMENTS, "%s takes %d values (%s), got %d" % (
                ep.name, len(fields), ", ".join([f[0] for f in fields]), len(values))
        else:
            kwargs = {}
            for i in range(len(values)):
                kwargs[fields[i][0]] = values[i]
        try:
            getattr(ep.obj, ep.attr)(**kwargs)
        except Exception as e:  # reported to the host; the node keeps running
            text = "%s: %s" % (type(e).__name__, e)
            self.log(ep.name + " raised " + text, _ERROR_LEVEL)
            return _ACK_HANDLER_RAISED, text
        return 0, None


def _uint(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _stderr(text):
    """Local diagnostics go to stderr where there is one: stdout may be the link itself."""
    err = getattr(sys, "stderr", None)
    if err:
        err.write(text + "\n")
    else:
        print(text)


def _device_id(objs):
    """Stable identity: the chip's unique id on boards; a name derived from the classes elsewhere."""
    uid = None
    try:
        import microcontroller

        uid = microcontroller.cpu.uid
    except (ImportError, AttributeError):
        try:
            import machine

            uid = machine.unique_id()
        except (ImportError, AttributeError):
            pass
    if uid:
        return "".join(["%02x" % b for b in uid])
    return "sim-" + "-".join([type(o).__name__.lower() for o in objs])


def _boot_id():
    """Random per boot, < 2**30."""
    try:
        import os

        b = os.urandom(4)
        return (b[0] & 0x3F) << 24 | b[1] << 16 | b[2] << 8 | b[3]
    except (ImportError, AttributeError, NotImplementedError):
        return clock.ticks_ms() & 0x3FFFFFFF


def log(text, level=_INFO):
    """Send a log line to the host through every connected Node (printed when there is none)."""
    if not _LOGGERS:
        _stderr(text)
    for node in _LOGGERS:
        if node._connected:
            node.log(text, level)
