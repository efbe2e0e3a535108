"""The device node: serves the decorated methods of some objects over one link (PROTOCOL.md).

``poll()`` does one bounded step (read what the link has, answer it, publish what is due) and never
blocks; ``run()`` loops over ``poll()``. Buffers are allocated once: a published reading is encoded and
framed into preallocated buffers (see bench/lite.py for the bytes allocated per reading).
"""

import sys

from ether_lite import __version__, cbor, clock, framing, protocol
from ether_lite import endpoints as _endpoints

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):  # type: ignore[no-redef]
        return x


_DEDUP = const(8)  # msg_ids remembered to re-ACK retransmitted DELIVERs
_ERROR_REPORT_MS = const(1000)  # at most one link-error report per second
_LOG_TEXT_MAX = const(240)  # bytes of UTF-8 in one LOG frame (keeps the body <= 256 B)
_IDLE_MS = const(50)  # longest wait of run() when nothing is due


class Node:
    """Serve ``objs`` (objects with ``ether_pub`` / ``ether_sub`` methods) over ``link``.

    ``link`` has ``readinto(buf) -> int`` (non-blocking, 0 when nothing), ``write(buf, n)``, and
    optionally ``connected`` and ``wait(timeout_ms)``; see ``ether_lite.links``.
    """

    def __init__(self, objs, link, device_id=None, boot_id=None):
        if not isinstance(objs, (list, tuple)):
            objs = (objs,)
        self.objs = objs
        self.link = link
        self.endpoints = _endpoints.find_endpoints(objs)
        self._pubs = {}  # publishing function -> endpoints of it
        self._timed = []
        now = clock.ticks_ms()
        for ep in self.endpoints:
            ep.due_ms = now
            if ep.direction == protocol.DEVICE_PUBLISHES:
                fn = getattr(type(ep.obj), ep.attr)
                self._pubs.setdefault(fn, []).append(ep)
                if ep.period_ms:
                    self._timed.append(ep)
        self.device_id = device_id or _device_id(objs)
        self.boot_id = _boot_id() if boot_id is None else boot_id
        self.firmware = _firmware()
        self._body = bytearray(framing.MAX_BODY)
        self._enc = cbor.Encoder(self._body)
        self._frame = bytearray(framing.MAX_FRAME)
        self._in = bytearray(64)
        self._dec = framing.FrameDecoder()
        self._dedup_ids = [0] * _DEDUP
        self._dedup_status = [0] * _DEDUP
        self._dedup_next = 0
        self._connected = False
        self._reported_errors = 0
        self._last_report_ms = clock.ticks_ms()
        self.sent = 0
        self.received = 0
        self.errors_sent = 0
        for ep in self.endpoints:  # fail now, not on the wire, if a description cannot fit a frame
            self._encode(ep.describe(), "DESCRIBE of " + ep.name)
        for obj in objs:
            _endpoints._NODES[id(obj)] = self
        _LOGGERS.append(self)

    def endpoint(self, name, direction=protocol.DEVICE_PUBLISHES):
        """The endpoint of topic ``name`` (KeyError if this node has none)."""
        for ep in self.endpoints:
            if ep.name == name and ep.direction == direction:
                return ep
        raise KeyError(name)

    def close(self):
        for obj in self.objs:
            if _endpoints._NODES.get(id(obj)) is self:
                del _endpoints._NODES[id(obj)]
        if self in _LOGGERS:
            _LOGGERS.remove(self)

    # ------------------------------------------------------------------------------ sending

    def _encode(self, msg, what):
        enc = self._enc
        enc.n = 0
        try:
            enc.encode(msg)
        except cbor.CBOREncodeError:
            raise ValueError("%s does not fit one frame (%d bytes of body at most)" % (what, framing.MAX_BODY))

    def _send(self):
        n = framing.encode_into(self._frame, self._body, self._enc.n)
        self.link.write(self._frame, n)
        self.sent += 1

    def send(self, msg):
        """Encode and send one message (a list as built by ``ether_lite.protocol``)."""
        self._encode(msg, protocol.kind_name(protocol.kind_of(msg[0])))
        self._send()

    def hello(self):
        """Send HELLO and every DESCRIBE (PROTOCOL.md: on start, on connect, on QUERY)."""
        self.link.write(b"\x00", 1)
        self.send(protocol.hello(self.device_id, self.boot_id, self.firmware, len(self.endpoints), clock.TICKS_PERIOD))
        for ep in self.endpoints:
            self.send(ep.describe())

    def error(self, code, text, detail=()):
        self.errors_sent += 1
        self.send(protocol.error(code, text, detail))

    def log(self, text, level=protocol.INFO):
        """Send one LOG frame; text beyond 240 bytes of UTF-8 is cut and ends in an ellipsis."""
        b = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        if len(b) > _LOG_TEXT_MAX:
            k = _LOG_TEXT_MAX - 3
            while k > 0 and (b[k] & 0xC0) == 0x80:  # do not cut a character in two
                k -= 1
            b = b[:k] + b"\xe2\x80\xa6"
        enc = self._enc
        enc.n = 0
        enc.head(4, 3)
        enc.head(0, protocol.header(protocol.LOG))
        enc.head(0, level)
        enc.head(3, len(b))
        enc.raw(b)
        self._send()

    # ---------------------------------------------------------------------------- publishing

    def publish(self, method, *args, **kwargs):
        """Call a publishing method (bound, e.g. ``node.publish(thermo.read)``) so it publishes now."""
        return method(*args, **kwargs)

    def published(self, obj, fn, result):
        """Called by an ``ether_pub`` method with the value it returned."""
        eps = self._pubs.get(fn)
        if eps is None:
            return
        for ep in eps:
            if ep.obj is obj:
                self._pub(ep, result)

    def _pub(self, ep, result):
        if ep.fields is None:
            ep.fields = _endpoints.fields_of_result(result)
            if self._connected:
                self.send(ep.describe())
        fields = ep.fields
        nf = len(fields)
        enc = self._enc
        enc.n = 0
        try:
            enc.head(4, 2 + nf)
            enc.head(0, protocol.PUB)  # header of version 1: the kind itself
            enc.head(0, protocol.pack_ref(ep.topic_id, ep.seq, clock.ticks_ms()))
            if isinstance(result, dict):
                for i in range(nf):
                    enc.encode(result[fields[i][0]])
            elif isinstance(result, tuple):
                if len(result) != nf:
                    raise KeyError(nf)
                for v in result:
                    enc.encode(v)
            elif nf == 1:
                enc.encode(result)
            else:
                raise KeyError(nf)
        except cbor.CBOREncodeError:
            self.error(protocol.ERR_OVERSIZE, "PUB of %s exceeds %d bytes; dropped" % (ep.name, framing.MAX_BODY),
                       (ep.topic_id,))
            return
        except KeyError:
            self.error(protocol.ERR_BAD_ARGUMENTS, "%s returned %r; described fields are %r" % (ep.name, result, fields),
                       (ep.topic_id,))
            return
        ep.seq = (ep.seq + 1) & protocol.SEQ_MASK
        if self._connected:
            self._send()

    # ------------------------------------------------------------------------------ the loop

    def poll(self):
        """One bounded step: handle received frames, (re)connect, publish what is due. Never blocks."""
        link = self.link
        connected = getattr(link, "connected", True)
        if connected and not self._connected:
            self._connected = True
            self.hello()
        elif not connected:
            self._connected = False
        n = link.readinto(self._in)
        busy = False
        if n:
            busy = True
            self._feed(n)
        now = clock.ticks_ms()
        for ep in self._timed:
            if clock.ticks_diff(now, ep.due_ms) >= 0:
                ep.due_ms = clock.ticks_add(ep.due_ms, ep.period_ms)
                if clock.ticks_diff(now, ep.due_ms) >= 0:  # fell behind: do not burst, restart the beat
                    ep.due_ms = clock.ticks_add(now, ep.period_ms)
                result = ep.fn(ep.obj)
                if result is not None:
                    self._pub(ep, result)
                busy = True
        self._report_link_errors(now)
        return busy

    def next_due_ms(self):
        """Milliseconds until the next timed publication (at most 50)."""
        now = clock.ticks_ms()
        wait = _IDLE_MS
        for ep in self._timed:
            d = clock.ticks_diff(ep.due_ms, now)
            if d < wait:
                wait = d
        return wait if wait > 0 else 0

    def run(self, until=None):
        """Poll until ``until()`` is true (forever without it) or the link reports end of file
        (``link.eof``), waiting on the link between polls."""
        wait = getattr(self.link, "wait", None)
        while (until is None or not until()) and not getattr(self.link, "eof", False):
            if not self.poll():
                ms = self.next_due_ms()
                if wait is not None:
                    wait(ms)
                else:
                    clock.sleep_ms(ms if ms < 2 else 1)

    def _feed(self, n):
        dec = self._dec
        pos = 0
        while pos < n:
            pos = dec.feed(self._in, pos, n)
            if dec.length >= 0:
                self.received += 1
                self._handle(dec.body, dec.length)

    def _report_link_errors(self, now):
        dec = self._dec
        bad = dec.crc_errors + dec.cobs_errors + dec.oversize
        if bad != self._reported_errors and self._connected and clock.ticks_diff(now, self._last_report_ms) >= _ERROR_REPORT_MS:
            self._reported_errors = bad
            self._last_report_ms = now
            self.error(protocol.ERR_MALFORMED, "frames dropped by the device: crc %d, cobs %d, oversize %d"
                       % (dec.crc_errors, dec.cobs_errors, dec.oversize), (dec.crc_errors, dec.cobs_errors, dec.oversize))

    # ---------------------------------------------------------------------------- receiving

    def _handle(self, body, n):
        try:
            msg = cbor.loads(body, 0, n)
        except cbor.CBORDecodeError as e:
            self.error(protocol.ERR_MALFORMED, "undecodable CBOR body: %s" % e)
            return
        try:
            kind = protocol.check(msg)
        except protocol.ProtocolError as e:
            if not (isinstance(msg, list) and msg and isinstance(msg[0], int) and msg[0] & 0x0F == protocol.ERROR):
                self.error(e.code, e.text, e.detail)
            return
        if kind == protocol.PING:
            self.send(protocol.pong(msg[1], clock.ticks_ms()))
        elif kind == protocol.QUERY:
            self.hello()
        elif kind == protocol.DELIVER:
            self._deliver(msg)
        elif kind == protocol.ERROR:
            _print("ether_lite: host reports error %d: %s" % (msg[1], msg[2]))
        else:
            self.error(protocol.ERR_MALFORMED, "%s is sent device to host, not to a device" % protocol.kind_name(kind))

    def _deliver(self, msg):
        topic_id = msg[1]
        msg_id = msg[2]
        if msg_id:
            for i in range(_DEDUP):
                if self._dedup_ids[i] == msg_id:
                    self.send(protocol.ack(msg_id, self._dedup_status[i], "duplicate"))
                    return
        status, text = self._call(topic_id, msg)
        if msg_id:
            i = self._dedup_next
            self._dedup_ids[i] = msg_id
            self._dedup_status[i] = status
            self._dedup_next = (i + 1) % _DEDUP
            self.send(protocol.ack(msg_id, status, text))
        elif status:
            code = (0, protocol.ERR_UNKNOWN_TOPIC, protocol.ERR_BAD_ARGUMENTS, protocol.ERR_INTERNAL)[status]
            self.error(code, text, (topic_id,))

    def _call(self, topic_id, msg):
        """Run the subscriber of a DELIVER; ``(ACK status, text or None)``."""
        if topic_id >= len(self.endpoints) or self.endpoints[topic_id].direction != protocol.DEVICE_SUBSCRIBES:
            return protocol.ACK_UNKNOWN_TOPIC, "no subscriber with topic id %d" % topic_id
        ep = self.endpoints[topic_id]
        values = msg[3:]
        if ep.fields is None:
            if len(values) != 1 or not isinstance(values[0], dict):
                return protocol.ACK_BAD_ARGUMENTS, "%s takes one map of keyword arguments" % ep.name
            kwargs = values[0]
            for k in kwargs:
                if not isinstance(k, str):
                    return protocol.ACK_BAD_ARGUMENTS, "%s: keyword %r is not text" % (ep.name, k)
        else:
            if len(values) != len(ep.fields):
                return protocol.ACK_BAD_ARGUMENTS, "%s takes %d values (%s), got %d" % (
                    ep.name, len(ep.fields), ", ".join([f[0] for f in ep.fields]), len(values))
            kwargs = {}
            for i in range(len(values)):
                kwargs[ep.fields[i][0]] = values[i]
        try:
            getattr(ep.obj, ep.attr)(**kwargs)
        except Exception as e:  # the handler's failure is reported to the host; the node keeps running
            text = "%s: %s" % (type(e).__name__, e)
            self.log("%s raised %s" % (ep.name, text), protocol.ERROR_LEVEL)
            return protocol.ACK_HANDLER_RAISED, text
        return protocol.ACK_OK, None


# ------------------------------------------------------------------------------------ identity

def _device_id(objs):
    try:
        import microcontroller

        return _hex(microcontroller.cpu.uid)
    except (ImportError, AttributeError):
        pass
    try:
        import machine

        return _hex(machine.unique_id())
    except (ImportError, AttributeError):
        pass
    names = [type(o).__name__.lower() for o in objs]
    return "sim-" + "-".join(names)


def _hex(b):
    return "".join(["%02x" % x for x in b])


def _boot_id():
    try:
        import os

        b = os.urandom(4)
        return ((b[0] & 0x3F) << 24) | (b[1] << 16) | (b[2] << 8) | b[3]
    except (ImportError, AttributeError, NotImplementedError):
        return clock.ticks_ms() & 0x3FFFFFFF


def _firmware():
    impl = sys.implementation
    v = impl.version
    text = "ether_lite %s; %s %d.%d.%d" % (__version__, impl.name, v[0], v[1], v[2])
    machine = getattr(impl, "_machine", None)
    return text + "; " + (machine or sys.platform)


# ---------------------------------------------------------------------------------------- logging

_LOGGERS = []


def _print(text):
    """Local diagnostics go to stderr where there is one: stdout may be the link itself."""
    err = getattr(sys, "stderr", None)
    if err is not None:
        err.write(text + "\n")
    else:
        print(text)


def log(text, level=protocol.INFO):
    """Send a log line to the host through every running Node (printed when there is none)."""
    if not _LOGGERS:
        _print(text)
        return
    for node in _LOGGERS:
        if node._connected:
            node.log(text, level)
