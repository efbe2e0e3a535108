"""The device node: serves the decorated methods of some objects over one link (PROTOCOL.md).

``poll()`` does one bounded step (read what the link has, answer it, publish what is due) and never
blocks; ``run()`` loops over ``poll()``. A published reading is encoded and framed into buffers allocated
once (bench/lite.py measures 0 bytes allocated per reading by ether_lite under MicroPython).

RAM on a board (a SAMD21 has about 17 KB free): a board keeps this, ``endpoints``, ``clock``,
``cbor_core`` (the encoder), ``framing_core`` and the chosen link: what publishing and answering PING and
QUERY need. The rest lives in modules imported for the occasion and dropped again (``_drop``), so their
code is freed by the next collection: what runs once (``ether_lite.startup``: the Node's construction, the
endpoint table, the device's identity; ``ether_lite.fields``: fields learnt from a first reading), what a
DELIVER needs (``ether_lite.cbor_decoder``, then ``ether_lite.receive``, one after the other) and what runs
only when something went wrong (``ether_lite.report``). The price is a load from flash on each such
occasion (a few ms on a board). bench/lite_circuitpython.py measures the heap this needs under CircuitPython.

Wire constants are private ``const``s (no RAM on MicroPython) and messages are built inline, so a board
does not load ``ether_lite.protocol``; tests/test_lite_constants.py checks every constant against it.
"""

import sys

from ether_lite import __version__, clock
from ether_lite import endpoints as _eps
from ether_lite.cbor_core import CBOREncodeError
from ether_lite.framing_core import encode_in_place

try:
    from micropython import const
except ImportError:  # CPython: every const here is an int
    const = int


_HELLO = const(0)
_PUB = const(2)
_PING = const(5)
_PONG = const(6)
_LOG = const(7)
_ERROR = const(8)
_QUERY = const(9)
_DEVICE_PUBLISHES = const(0)
_SEQ_MASK = const(0x1FF)
_ERR_INTERNAL = const(7)
_INFO = const(20)

# positions in an endpoint list (ether_lite.startup): the first six are its DESCRIBE message
_ID = const(1)
_NAME = const(2)
_DIR = const(3)
_FIELDS = const(4)
_OBJ = const(6)
_FN = const(8)
_PERIOD = const(9)
_SEQ = const(10)
_DUE = const(11)

_REPORT_MS = const(1000)  # at most one link-error report per second
_LOG_MAX = const(240)  # bytes of UTF-8 text in one LOG frame (keeps the body <= 256 B)
_IDLE_MS = const(50)  # longest wait of run() when nothing is due
_READ_MAX = const(512)  # bytes one poll() reads at most, so that a flood cannot hold up publishing

_LOGGERS = []  # running Nodes, for log()
# CPython keeps what it imported: RAM is plenty on a desktop, and there a thread's import could race
# another thread's drop (several Nodes in one process).
_KEEP_MODULES = sys.implementation.name == "cpython"


def _drop(name):
    """Forget the module ``ether_lite.<name>`` after a one-off use (``startup``, ``fields``, ``receive``,
    ``cbor_decoder``, ``report``): out of ``sys.modules`` and off the package, nothing refers to its code
    any more and the next collection frees it (bench/lite.py measures it under MicroPython: of 5 KB, about
    0.3 KB stays, the names it interned). The next use imports it again from flash. Not on CPython."""
    if _KEEP_MODULES:
        return
    sys.modules.pop("ether_lite." + name, None)
    try:
        delattr(sys.modules["ether_lite"], name)
    except (KeyError, AttributeError):
        pass


class Node:
    """Serve ``objs`` (objects with ``ether_pub`` / ``ether_sub`` methods) over ``link``, which has
    ``readinto(buf) -> int`` (non-blocking), ``write(buf, n)`` and optionally ``connected``, ``wait(ms)``
    and ``eof`` (see ``ether_lite.links``)."""

    def __init__(self, objs, link, device_id=None, boot_id=None, key=None):
        # The constructor's work is done once, so its code lives in ether_lite.startup (dropped again:
        # the RAM it takes goes back to the user's code). startup.init sets every attribute the methods
        # below use: endpoints, device_id, boot_id, firmware, the buffers, the encoder, the frame decoder.
        from ether_lite import startup

        try:
            startup.init(self, objs, link, device_id, boot_id, __version__, key)
        finally:
            _drop("startup")
        self._key = None
        if key is not None:  # PROTOCOL.md 6.1: only a keyed node loads ether_lite.keyed (it needs hashlib)
            from ether_lite import keyed

            keyed.start(self, key)
        for obj in self.objs:
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
        n = enc.n
        if self._key is not None:  # the trailer of a keyed frame (PROTOCOL.md 6.1)
            n = self._key.seal(self._frame, 1, n, b"D", self._tx, self._nonce)
            self._tx += 1
        self.link.write(self._frame, encode_in_place(self._frame, n))
        self.sent += 1

    def hello(self):
        """HELLO and every DESCRIBE (on start, on connect, on QUERY), after a 0x00 that flushes any
        partial frame left on the line. No other frame goes between them (PROTOCOL.md, DESCRIBE)."""
        self.link.write(b"\x00", 1)
        hello = [_HELLO, self.device_id, self.boot_id, self.firmware, len(self.endpoints), clock.TICKS_PERIOD]
        if self._key is not None:
            hello.append(self._key.proof(self._nonce, self.device_id, self.boot_id))
            hello.append(self._sess)
        self.send(hello)
        for ep in self.endpoints:
            self.send(ep[:6])

    def log(self, text, level=_INFO):
        """One LOG frame; text beyond 240 bytes of UTF-8 is cut (on a character boundary) and ends in '…'."""
        text = str(text)
        limit = _LOG_MAX if self._key is None else _LOG_MAX - 12  # a keyed frame's trailer takes 12
        # a character takes at most 4 bytes: only a longer text may need cutting (done in report)
        if len(text) > limit // 4 and len(text.encode("utf-8")) > limit:
            from ether_lite import report

            text = report.fit(text, limit)
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
            from ether_lite import fields

            ep[_FIELDS] = fields.of_value(result)
            _drop("fields")
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
        buf = self._in
        dec = self._dec
        n = link.readinto(buf)
        got = n
        while n:  # what the link has, up to _READ_MAX bytes: a full buffer may have more behind it
            busy = True
            pos = 0
            while pos < n:
                pos = dec.feed(buf, pos, n)
                if dec.length >= 0:
                    self.received += 1
                    self._handle(dec.body, dec.length)
            if n < len(buf) or got >= _READ_MAX:
                break
            n = link.readinto(buf)
            got += n
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
        """Answer one received body.

        The messages a host sends all the time, PING ``[5, ping_id]`` and QUERY ``[9]``, are read here from
        their bytes. Anything else (a DELIVER: someone acted; a QUERY for some topic ids, which a host sends
        only when their DESCRIBEs were lost; bad input; a PING in an unusual encoding) is decoded by
        ``ether_lite.cbor_decoder``, then answered by ``ether_lite.receive``: each imported for it and dropped
        again, one after the other, so that neither stays in a board's RAM, nor both at once."""
        if self._key is not None:
            from ether_lite import keyed

            n = keyed.received(self, body, n)
            if n < 0:
                return
        b0 = body[0]
        if n == 2 and b0 == 0x81 and body[1] == _QUERY:  # [9]
            return self.hello()
        if n >= 3 and b0 == 0x82 and body[1] == _PING and body[2] >> 5 == 0:  # [5, uint]
            ai = body[2] & 0x1F
            k = 0 if ai < 24 else 1 << (ai - 24) if ai < 28 else -1  # bytes of the uint after its head
            # ids below 2**30 (the host's) fit a small int on every board (some have no long ints)
            if n == 3 + k and (k < 4 or (k == 4 and body[3] < 0x40)):
                v = ai if k == 0 else 0
                for i in range(3, n):
                    v = v << 8 | body[i]
                return self.send([_PONG, v, clock.ticks_ms()])
        try:
            from ether_lite import cbor_decoder

            try:
                msg = cbor_decoder.loads(body, 0, n)
            except cbor_decoder.CBORDecodeError as e:
                msg = e
            del cbor_decoder  # nothing refers to the decoder's code now: the next collection frees it
            _drop("cbor_decoder")
            from ether_lite import receive

            receive.handle(self, msg)
        except MemoryError:  # the user's code holds the RAM this needs: the message is dropped, and said so
            self.send([_ERROR, _ERR_INTERNAL, "no memory to read a message: dropped"])
        finally:
            _drop("receive")
            _drop("report")  # if an answer needed it
            _drop("cbor_decoder")


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
