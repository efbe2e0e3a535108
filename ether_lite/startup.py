"""What a Node works out once: its construction (``init``), the endpoint table of the decorated methods
(with their declared fields, or a subscriber's signature: ``ether_lite.fields``), and the device's
identity (device id, boot id, firmware).

A board does not keep this module. ``ether_lite.node`` imports it for one call and drops it again
(``node._drop``), so its code is freed by the next garbage collection: on a SAMD21 the RAM it would
hold for good is better left to the user's code (bench/lite.py measures what a device keeps).

An endpoint is one list (no object per endpoint): its first six elements are its DESCRIBE message
(PROTOCOL.md), then what the Node needs to serve it::

    [1, topic_id, name, direction, fields, every_s, obj, attr, fn, period_ms, seq, due_ms]

``fn`` is the undecorated function (``fn(obj)`` publishes nothing by itself); ``fields`` is a list of
``[name, type]`` or None until known. ``ether_lite.node`` names the positions with ``const``s.
"""

import sys

from ether_lite import clock
from ether_lite.cbor_core import CBOREncodeError, Encoder
from ether_lite.endpoints import _DECLARED
from ether_lite.framing_core import MAX_BODY, MAX_FRAME, FrameDecoder

try:
    from micropython import const
except ImportError:  # CPython: every const here is an int
    const = int


_DESCRIBE = const(1)
_MAX_ENDPOINTS = const(32)
_DEVICE_PUBLISHES = const(0)
_DEDUP = const(8)  # msg_ids a Node remembers to re-ACK retransmitted DELIVERs
_RX = const(64)  # bytes a Node reads from a byte-stream link at once (the frame decoder keeps the rest)
# positions in an endpoint list (below)
_DIR = const(3)
_OBJ = const(6)
_ATTR = const(7)
_PERIOD = const(9)
_DUE = const(11)
_TYPE_CODES = "fibsya"  # float int bool str bytes any (protocol.FIELD_TYPES)


def init(node, objs, link, device_id, boot_id, version, key=None):
    """Make ``node`` (``ether_lite.node.Node.__init__``): every attribute its methods use."""
    if not isinstance(objs, (list, tuple)):
        objs = (objs,)
    node.objs = objs
    node.link = link
    # the frame being sent: the encoder writes its body from byte 1 on, framed in place (framing_core)
    node._frame = bytearray(MAX_FRAME)
    if sys.modules["ether_lite.node"]._KEEP_MODULES:  # CPython (simulated boards, the host's tests): frame
        # with the host's ether_lite.framing, the same bytes (tests/test_lite_framing.py), its CRC in C, COBS
        # by slices. Imported by name, so that `ether deploy` (which follows import statements) leaves it
        # off a board, whose node module stays as it is. The name is cut from one a board has interned
        # already (a new one costs a board RAM: bench/lite_circuitpython.py).
        try:
            sys.modules["ether_lite.node"].encode_in_place = __import__(
                "ether_lite.framing_core"[:-5], None, None, ("encode_in_place",)).encode_in_place
        except ImportError:  # ether_lite as a board has it (only what `ether deploy` copies)
            pass
    # a keyed frame keeps 12 bytes of its 256 for the trailer (PROTOCOL.md 6.1)
    node._enc = Encoder(memoryview(node._frame)[1 : MAX_BODY + 1 - (0 if key is None else 12)])
    node.endpoints = eps = find_endpoints(objs, node._enc)
    ident = identity(objs, version)
    node.device_id = device_id or ident[0]
    node.boot_id = ident[1] if boot_id is None else boot_id
    node.firmware = ident[2]
    node._pubs = {}  # publishing function -> its endpoints
    node._timed = []  # endpoints published at a rate
    now = clock.ticks_ms()
    for ep in eps:
        ep[_DUE] = now
        if ep[_DIR] == _DEVICE_PUBLISHES:
            node._pubs.setdefault(getattr(type(ep[_OBJ]), ep[_ATTR]), []).append(ep)
            if ep[_PERIOD]:
                node._timed.append(ep)
    # what the link has: a few bytes at a time on a byte stream, a whole datagram on UDP (``rx_size``)
    node._in = bytearray(getattr(link, "rx_size", _RX))
    node._dec = FrameDecoder()
    node._seen = [0] * (2 * _DEDUP)  # ring of (msg_id, status) pairs of the last DELIVERs
    node._seen_next = 0
    node._connected = False  # HELLO sent since the link last came up
    node._reported = 0  # link errors (frames dropped) reported so far
    node._report_ms = now  # when they were last reported
    node.sent = 0
    node.received = 0


def find_endpoints(objs, enc):
    """Endpoints of the decorated methods of ``objs``, topic ids assigned in name order. Raises
    ValueError for a bad ``fields=`` declaration, too many endpoints, or a DESCRIBE over one frame (tried
    with ``enc``, the Node's encoder)."""
    eps = []
    for obj in objs:
        cls = type(obj)
        for attr in dir(cls):
            try:
                entry = _DECLARED.get(getattr(cls, attr, None))
            except TypeError:  # unhashable class attribute
                continue
            if entry:
                for d in (0, 1):  # DEVICE_PUBLISHES, DEVICE_SUBSCRIBES
                    if entry[1 + d] is not None:
                        topic, every, fields = entry[1 + d]
                        fn = entry[0]
                        name = topic or cls.__name__ + "." + attr
                        fields = _declared(name, fields) if fields is not None else _signature(fn) if d else None
                        eps.append([_DESCRIBE, 0, name, d, fields,
                                    None if every is None else float(every), obj, attr, fn,
                                    0 if every is None else max(1, int(every * 1000)), 0, 0])
    eps.sort(key=lambda e: (e[2], e[3]))
    if len(eps) > _MAX_ENDPOINTS:
        raise ValueError("%d endpoints; a device has at most %d" % (len(eps), _MAX_ENDPOINTS))
    for i in range(len(eps)):
        eps[i][1] = i
        try:  # fail now, not on the wire
            enc.n = 0
            enc.encode(eps[i][:6])
        except CBOREncodeError:
            raise ValueError("DESCRIBE of %s over %d bytes: shorten its names" % (eps[i][2], MAX_BODY))
    return eps


def _declared(name, fields):
    """Declared fields (``fields=``: names, ``(name, type)`` or ``(name, type, default)``) as
    ``[[name, type], ...]`` (a default kept as the third element). An array type (``"[h"``, ``"[i2"``) is
    checked and spelled as DESCRIBE spells it by ``ether_lite.typed`` (which its PUBs need anyway)."""
    out = []
    for f in fields:
        f = [f, "a"] if isinstance(f, str) else list(f)
        t = f[1] if 2 <= len(f) <= 3 else ""
        if t[:1] == "[":
            from ether_lite import typed

            t = f[1] = typed.declared(t)
        if not t or (t not in _TYPE_CODES and t[0] != "["):
            raise ValueError("%s: field %r: give a name, (name, type) or (name, type, default) with type "
                             'one of f i b s y a, or "[h" for an array' % (name, f))
        out.append(f)
    return out


def _signature(fn):
    """A subscriber's fields from its signature where the interpreter keeps one (``ether_lite.fields``),
    else None: the host then sends one map of keyword arguments and the function's defaults apply."""
    if not hasattr(fn, "__annotations__"):  # MicroPython, CircuitPython: not worth loading the module
        return None
    from ether_lite import fields

    return fields.of_signature(fn)


def identity(objs, version):
    """``(device_id, boot_id, firmware)`` of this device. The device id is stable: ``ETHER_DEVICE_ID`` from
    the board's ``settings.toml`` (CircuitPython's ``os.getenv``; the environment elsewhere), else the chip's
    unique id on boards, a name derived from the classes elsewhere. The boot id is random per boot, < 2**30."""
    try:
        import os

        device_id = os.getenv("ETHER_DEVICE_ID") or ""
    except (ImportError, AttributeError):  # a port without os or getenv
        os = None
        device_id = ""
    if not device_id:
        try:
            import microcontroller

            uid = microcontroller.cpu.uid
        except (ImportError, AttributeError):
            try:
                import machine

                uid = machine.unique_id()
            except (ImportError, AttributeError):
                uid = None
        device_id = "" if uid else "sim"
        if uid:
            for b in uid:
                device_id += "%02x" % b
        else:
            for o in objs:
                device_id += "-" + type(o).__name__.lower()
    try:
        b = os.urandom(4)
        boot_id = (b[0] & 0x3F) << 24 | b[1] << 16 | b[2] << 8 | b[3]
    except (ImportError, AttributeError, NotImplementedError):  # no entropy source (MicroPython's QEMU port)
        try:  # the microsecond the program started: the same boot twice is unlikely to hit it again
            import time

            boot_id = time.ticks_us() & 0x3FFFFFFF
        except AttributeError:
            boot_id = clock.ticks_ms() & 0x3FFFFFFF
    impl = sys.implementation
    firmware = "ether_lite %s; %s %d.%d.%d; %s" % (
        version, impl.name, impl.version[0], impl.version[1], impl.version[2],
        getattr(impl, "_machine", sys.platform))
    return device_id, boot_id, firmware
