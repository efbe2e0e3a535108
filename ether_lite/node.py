"""The device node: serves the decorated methods of some objects over one link (PROTOCOL.md).

``poll()`` does one bounded step (read what the link has, answer it, publish what is due) and never
blocks; ``run()`` loops over ``poll()``. A published reading is encoded and framed into buffers allocated
once (bench/lite.py measures 0 bytes allocated per reading by ether_lite under MicroPython).

RAM on a board (a SAMD21 has about 17 KB free): a board keeps this, ``endpoints``, ``clock``,
``cbor_core``, ``framing_core`` and the chosen link. What runs once (``ether_lite.startup``: the endpoint
table, the device's identity, fields learnt from a first reading) and what runs only when something went
wrong (``ether_lite.report``: answers to bad input, failed deliveries) live in modules imported for the
occasion and dropped again (``_drop``), so their code is freed by the next collection. Wire constants are
private ``const``s (no RAM on MicroPython) and messages are built inline, so a board does not load
``ether_lite.protocol``; tests/test_lite_constants.py checks every constant against it.
"""

import sys

from ether_lite import __version__, clock
from ether_lite import endpoints as _eps
from ether_lite.cbor_core import CBORDecodeError, CBOREncodeError, Encoder, loads
from ether_lite.framing_core import MAX_BODY, MAX_FRAME, FrameDecoder, encode_into

try:
    from micropython import const
except ImportError:  # CPython: every const here is an int
    const = int


_HELLO = const(0)
_PUB = const(2)
_DELIVER = const(3)
_ACK = const(4)
_PING = const(5)
_PONG = const(6)
_LOG = const(7)
_QUERY = const(9)
_DEVICE_PUBLISHES = const(0)
_DEVICE_SUBSCRIBES = const(1)
_MAX_ENDPOINTS = const(32)
_MAX_MSG_ID = const(65535)
_SEQ_MASK = const(0x1FF)
_INFO = const(20)

# positions in an endpoint list (ether_lite.startup): the first six are its DESCRIBE message
_ID = const(1)
_NAME = const(2)
_DIR = const(3)
_FIELDS = const(4)
_OBJ = const(6)
_ATTR = const(7)
_FN = const(8)
_PERIOD = const(9)
_SEQ = const(10)
_DUE = const(11)

_DEDUP = const(8)  # msg_ids remembered to re-ACK retransmitted DELIVERs
_REPORT_MS = const(1000)  # at most one link-error report per second
_LOG_MAX = const(240)  # bytes of UTF-8 text in one LOG frame (keeps the body <= 256 B)
_IDLE_MS = const(50)  # longest wait of run() when nothing is due

_LOGGERS = []  # running Nodes, for log()


def _drop(name):
    """Forget the module ``ether_lite.<name>`` after a one-off use (``startup``, ``report``): out of
    ``sys.modules`` and off the package, nothing refers to its code any more and the next collection frees
    it (measured under MicroPython: the RAM comes back). The next use imports it again from flash."""
    sys.modules.pop("ether_lite." + name, None)
    try:
        delattr(sys.modules["ether_lite"], name)
    except (KeyError, AttributeError):
        pass


class Node:
    """Serve ``objs`` (objects with ``ether_pub`` / ``ether_sub`` methods) over ``link``, which has
    ``readinto(buf) -> int`` (non-blocking), ``write(buf, n)`` and optionally ``connected``, ``wait(ms)``
    and ``eof`` (see ``ether_lite.links``)."""

    def __init__(self, objs, link, device_id=None, boot_id=None):
        if not isinstance(objs, (list, tuple)):
            objs = (objs,)
        self.objs = objs
        self.link = link
        from ether_lite import startup  # once: dropped below

        try:
            self.endpoints = startup.find_endpoints(objs)
            ident = startup.identity(objs, __version__)
        finally:
            _drop("startup")
        self.device_id = device_id or ident[0]
        self.boot_id = ident[1] if boot_id is None else boot_id
        self.firmware = ident[2]
        self._body = bytearray(MAX_BODY)
        self._enc = Encoder(self._body)
        self._pubs = {}  # publishing function -> its endpoints
        self._timed = []
        now = clock.ticks_ms()
        for ep in self.endpoints:
            ep[_DUE] = now
            if ep[_DIR] == _DEVICE_PUBLISHES:
                self._pubs.setdefault(getattr(type(ep[_OBJ]), ep[_ATTR]), []).append(ep)
                if ep[_PERIOD]:
                    self._timed.append(ep)
        self._frame = bytearray(MAX_FRAME)
        self._in = bytearray(MAX_FRAME)  # a whole datagram: UDP truncates a short buffer
        self._dec = FrameDecoder()
        self._seen = [0] * (2 * _DEDUP)  # ring of (msg_id, status) pairs
        self._seen_next = 0
        self._connected = False
        self._reported = 0
        self._report_ms = now
        self.sent = 0
        self.received = 0
        for obj in objs:
            _eps._NODES[id(obj)] = self
        _LOGGERS.append(self)

    def endpoint(self, name, direction=_DEVICE_PUBLISHES):
        """The endpoint list of topic ``name`` (KeyError if none; see ``ether_lite.startup``)."""
        for ep in self.endpoints:
            if ep[_NAME] == name and ep[_DIR] == direction:
                return ep
        raise KeyError(name)

    def close(self):
        for obj in self.objs:
            if _eps._NODES.get(id(obj)) is self:
                del _eps._NODES[id(obj)]
        if self in _LOGGERS:
            _LOGGERS.remove(self)

    # ------------------------------------------------------------------------------ sending

    def send(self, msg=None):
        """Encode and send one message (a list, as ``ether_lite.protocol`` builds them); without one,
        send what the encoder holds. A message over 256 bytes raises ``CBOREncodeError``."""
        enc = self._enc
        if msg is not None:
            enc.n = 0
            enc.encode(msg)
        self.link.write(self._frame, encode_into(self._frame, self._body, enc.n))
        self.sent += 1

    def hello(self):
        """HELLO and every DESCRIBE (on start, on connect, on QUERY), after a 0x00 that flushes any
        partial frame left on the line. No other frame goes between them (PROTOCOL.md, DESCRIBE)."""
        self.link.write(b"\x00", 1)
        self.send([_HELLO, self.device_id, self.boot_id, self.firmware, len(self.endpoints), clock.TICKS_PERIOD])
        for ep in self.endpoints:
            self.send(ep[:6])

    def log(self, text, level=_INFO):
        """One LOG frame; text beyond 240 bytes of UTF-8 is cut (on a character boundary) and ends in '…'."""
        text = str(text)
        if len(text) > _LOG_MAX // 4:  # may be over 240 bytes (a character takes at most 4): cut it
            from ether_lite import report

            text = report.fit(text, _LOG_MAX)
            _drop("report")
        self.send([_LOG, level, text])

    # ---------------------------------------------------------------------------- publishing

    def publish(self, method, *args, **kwargs):
        """Call a publishing method now (``node.publish(thermo.read)``); it publishes what it returns."""
        return method(*args, **kwargs)

    def published(self, obj, fn, result):
        """Called by an ``ether_pub`` method with the value it returned."""
        for ep in self._pubs.get(fn, ()):
            if ep[_OBJ] is obj:
                self._pub(ep, result)

    def _pub(self, ep, result):
        """Encode and send one PUB of ``result`` on ``ep``, allocating nothing (PROTOCOL.md, PUB)."""
        if ep[_FIELDS] is None:  # the first reading defines the fields: DESCRIBE the topic again
            from ether_lite import startup

            ep[_FIELDS] = startup.fields_of(result)
            _drop("startup")
            if self._connected:
                self.send(ep[:6])
        fields = ep[_FIELDS]
        nf = len(fields)
        enc = self._enc
        enc.n = 0
        try:
            enc.head(4, 2 + nf)
            enc.head(0, _PUB)  # header of version 1: the kind itself
            # ref = topic_id | seq << 5 | (ticks & 0xFFFF) << 14 (protocol.pack_ref)
            enc.head(0, ep[_ID] | ep[_SEQ] << 5 | (clock.ticks_ms() & 0xFFFF) << 14)
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
        except (CBOREncodeError, KeyError) as e:
            from ether_lite import report

            report.pub_failed(self, ep, result, e)
            return _drop("report")
        ep[_SEQ] = (ep[_SEQ] + 1) & _SEQ_MASK
        if self._connected:
            self.send()

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
        dec = self._dec
        if n:
            busy = True
            pos = 0
            while pos < n:
                pos = dec.feed(self._in, pos, n)
                if dec.length >= 0:
                    self.received += 1
                    self._handle(dec.body, dec.length)
        now = clock.ticks_ms()
        for ep in self._timed:
            if clock.ticks_diff(now, ep[_DUE]) >= 0:
                ep[_DUE] = clock.ticks_add(ep[_DUE], ep[_PERIOD])
                if clock.ticks_diff(now, ep[_DUE]) >= 0:  # fell behind: restart the beat, do not burst
                    ep[_DUE] = clock.ticks_add(now, ep[_PERIOD])
                result = ep[_FN](ep[_OBJ])
                if result is not None:
                    self._pub(ep, result)
                busy = True
        bad = dec.crc_errors + dec.cobs_errors + dec.oversize
        if bad != self._reported and self._connected and clock.ticks_diff(now, self._report_ms) >= _REPORT_MS:
            self._reported = bad
            self._report_ms = now
            from ether_lite import report

            report.link_errors(self, dec)
            _drop("report")
        return busy

    def next_due_ms(self):
        """Milliseconds until the next timed publication (at most 50)."""
        now = clock.ticks_ms()
        ms = _IDLE_MS
        for ep in self._timed:
            ms = min(ms, clock.ticks_diff(ep[_DUE], now))
        return max(ms, 0)

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
        """Answer one received body: a well-formed PING, QUERY or DELIVER here; anything else (PROTOCOL.md
        section 5 says what) in ``ether_lite.report``."""
        try:
            msg = loads(body, 0, n)
        except CBORDecodeError as e:
            msg = e
        if isinstance(msg, list) and msg and _uint(msg[0]):
            h = msg[0]
            n = len(msg)
            if h == _PING and n == 2 and _uint(msg[1]):
                return self.send([_PONG, msg[1], clock.ticks_ms()])
            if h == _QUERY and n == 1:
                return self.hello()
            if (h == _DELIVER and n >= 3 and _uint(msg[1]) and _uint(msg[2]) and msg[1] < _MAX_ENDPOINTS
                    and msg[2] <= _MAX_MSG_ID):
                return self._deliver(msg[1], msg[2], msg[3:])
        from ether_lite import report

        report.bad_message(self, msg)
        _drop("report")

    def _deliver(self, topic_id, msg_id, values):
        """Run the subscriber of a DELIVER once per msg_id (a retransmission is re-ACKed, not run again)
        and ACK it; what fails is answered by ``ether_lite.report`` (an ACK with the reason, or an ERROR
        when no ACK was asked for: msg_id 0)."""
        seen = self._seen
        if msg_id:
            for i in range(0, 2 * _DEDUP, 2):
                if seen[i] == msg_id:
                    return self.send([_ACK, msg_id, seen[i + 1], "duplicate"])
        eps = self.endpoints
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
                    self._ack(msg_id, 0)
                return
        from ether_lite import report

        report.delivery_failed(self, ep, topic_id, msg_id, values, failed)
        _drop("report")

    def _ack(self, msg_id, status, text=None):
        """ACK a DELIVER, and remember its status to re-ACK a retransmission."""
        i = self._seen_next
        self._seen[i] = msg_id
        self._seen[i + 1] = status
        self._seen_next = (i + 2) % (2 * _DEDUP)
        self.send([_ACK, msg_id, status] if text is None else [_ACK, msg_id, status, text])


def _uint(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def log(text, level=_INFO):
    """Send a log line to the host through every connected Node; written to stderr (or printed) when no
    Node is connected, so a line is never dropped silently."""
    sent = False
    for node in _LOGGERS:
        if node._connected:
            node.log(text, level)
            sent = True
    if not sent:
        from ether_lite import report

        report.stderr(text)
        _drop("report")
