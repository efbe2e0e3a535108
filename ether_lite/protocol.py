"""Messages of the Ether wire protocol, version 1: kinds, codes, builders and checks.

PROTOCOL.md is the specification; this module is its executable summary, shared by the device
(ether_lite) and the host (ether_medium imports it; it never reimplements the wire format).
Messages here are plain lists, as they are before CBOR encoding and after CBOR decoding, so the
module is independent of the codec: the device encodes with ``ether_lite.cbor``, the host with
``cbor2`` (``canonical=True``), byte for byte the same.
"""

try:
    from micropython import const
except ImportError:  # CPython: every const here is an int
    const = int


VERSION = const(1)

# Message kinds: the low 4 bits of a message's first element h = (version - 1) * 16 + kind.
HELLO = const(0)
DESCRIBE = const(1)
PUB = const(2)
DELIVER = const(3)
ACK = const(4)
PING = const(5)
PONG = const(6)
LOG = const(7)
ERROR = const(8)
QUERY = const(9)
KIND_NAMES = ("HELLO", "DESCRIBE", "PUB", "DELIVER", "ACK", "PING", "PONG", "LOG", "ERROR", "QUERY")

# DESCRIBE direction
DEVICE_PUBLISHES = const(0)
DEVICE_SUBSCRIBES = const(1)
# DESCRIBE field types
FIELD_TYPES = ("f", "i", "b", "s", "y", "a")
# DESCRIBE field types of arrays (PROTOCOL.md, "Arrays"): "[", the element's kind (i signed, u unsigned,
# f float) and size in bytes; the value is an RFC 8746 typed array: this tag (little-endian) over its bytes
ARRAY_TAGS = {
    "[u1": 64, "[i1": 72, "[u2": 69, "[i2": 77, "[u4": 70, "[i4": 78, "[u8": 71, "[i8": 79, "[f4": 85, "[f8": 86,
}
ARRAY_TYPES = tuple(ARRAY_TAGS)


def array_tags(ftype):
    """The tags a value of DESCRIBE array type ``ftype`` may carry: little-endian (what every board and
    host sends), and big-endian (a device on a big-endian machine sends its own order; RFC 8746: the
    little-endian tag less 4, one-byte elements have one tag)."""
    t = ARRAY_TAGS[ftype]
    return (t,) if t in (64, 72) else (t, t - 4)

# ACK status
ACK_OK = const(0)
ACK_UNKNOWN_TOPIC = const(1)
ACK_BAD_ARGUMENTS = const(2)
ACK_HANDLER_RAISED = const(3)

# ERROR codes
ERR_VERSION = const(1)
ERR_MALFORMED = const(2)
ERR_UNKNOWN_TOPIC = const(3)
ERR_BAD_ARGUMENTS = const(4)
ERR_OVERSIZE = const(5)
ERR_NOT_READY = const(6)
ERR_INTERNAL = const(7)

# LOG levels, as in Python's logging
DEBUG = const(10)
INFO = const(20)
WARNING = const(30)
ERROR_LEVEL = const(40)
CRITICAL = const(50)

# PUB ref = topic_id | (seq & 0x1FF) << 5 | (ticks_ms & 0xFFFF) << 14, one CBOR uint < 2**30
REF_LIMIT = const(0x40000000)  # 2**30: every ref is below
MAX_ENDPOINTS = const(32)
TOPIC_MASK = const(0x1F)
SEQ_BITS = const(9)
SEQ_MASK = const(0x1FF)
TIME_MASK = const(0xFFFF)
_SEQ_SHIFT = const(5)
_TIME_SHIFT = const(14)

# Retransmission of DELIVER (host): tries and first timeout, doubling
DELIVER_TRIES = const(4)
DELIVER_TIMEOUT_MS = const(30)
MAX_MSG_ID = const(65535)


class ProtocolError(ValueError):
    """A decoded body that is not a valid message. ``code`` is the ERROR code to report."""

    def __init__(self, code, text, detail=()):
        super().__init__(text)
        self.code = code
        self.text = text
        self.detail = detail


def header(kind, version=VERSION):
    """First element of every message: ``(version - 1) * 16 + kind``."""
    return (version - 1) * 16 + kind


def version_of(h):
    return (h >> 4) + 1


def kind_of(h):
    return h & 0x0F


def kind_name(kind):
    if 0 <= kind < len(KIND_NAMES):
        return KIND_NAMES[kind]
    return "kind %d" % kind


# --- PUB reference word ------------------------------------------------------------------------

def pack_ref(topic_id, seq, ticks_ms):
    """One small int carrying topic id (5 bits), sequence (9 bits) and device time (16 bits)."""
    return (topic_id & TOPIC_MASK) | (seq & SEQ_MASK) << _SEQ_SHIFT | (ticks_ms & TIME_MASK) << _TIME_SHIFT


def unpack_ref(ref):
    """``(topic_id, seq9, ticks16)`` of a PUB reference word."""
    return ref & TOPIC_MASK, (ref >> _SEQ_SHIFT) & SEQ_MASK, (ref >> _TIME_SHIFT) & TIME_MASK


def seq_advance(prev_seq, seq):
    """How far 9-bit ``seq`` is ahead of ``prev_seq`` (1 = next, 0 = duplicate, n > 1: n - 1 missed).

    Aliasing: a gap of 512 or more frames on one topic is seen modulo 512 (PROTOCOL.md, "Sequence").
    """
    return (seq - prev_seq) & SEQ_MASK


def unwrap_ticks16(ticks16, ref_ticks, period):
    """Full device ticks of a 16-bit time stamp, taking the candidate nearest ``ref_ticks``.

    ``ref_ticks`` is a full device tick value known to be within 32.7 s of the stamp (from a recent
    PONG, advanced by host time); ``period`` is HELLO's ticks_period.
    """
    d = (ticks16 - ref_ticks) & TIME_MASK
    if d >= 0x8000:
        d -= 0x10000
    return (ref_ticks + d) % period


def ticks_diff(a, b, period):
    """Signed ``a - b`` on a wrapping clock of ``period`` (a power of two)."""
    d = (a - b) & (period - 1)
    if d >= period >> 1:
        d -= period
    return d


# --- builders ----------------------------------------------------------------------------------

def hello(device_id, boot_id, firmware, n_endpoints, ticks_period):
    return [header(HELLO), device_id, boot_id, firmware, n_endpoints, ticks_period]


def describe(topic_id, name, direction, fields, every_s=None):
    """``fields``: list of ``[name, type]`` or ``[name, type, default]`` (type in FIELD_TYPES or ARRAY_TYPES; a
    subscriber's field with a default may be left out by the sender), or None when not known yet."""
    return [header(DESCRIBE), topic_id, name, direction, fields, every_s]


def pub(topic_id, seq, ticks_ms, values):
    return [header(PUB), pack_ref(topic_id, seq, ticks_ms)] + list(values)


def deliver(topic_id, msg_id, values):
    return [header(DELIVER), topic_id, msg_id] + list(values)


def ack(msg_id, status=ACK_OK, text=None):
    if text is None:
        return [header(ACK), msg_id, status]
    return [header(ACK), msg_id, status, text]


def ping(ping_id):
    return [header(PING), ping_id]


def pong(ping_id, ticks_ms):
    return [header(PONG), ping_id, ticks_ms]


def log(level, text):
    return [header(LOG), level, text]


def error(code, text, detail=()):
    return [header(ERROR), code, text] + list(detail)


def query(topic_ids=()):
    """``[h]``: the device answers with HELLO and every DESCRIBE. ``[h, topic_id, ...]``: with the
    DESCRIBEs of just those topic ids (what a host missed on a noisy link)."""
    return [header(QUERY)] + list(topic_ids)


# --- checks --------------------------------------------------------------------------------------

# per kind: minimum length, maximum length (-1: unbounded), and the type check of fixed elements
_INT = const(1)
_TEXT = const(2)
_ANY = const(3)
_LIST_OR_NONE = const(4)
_NUM_OR_NONE = const(5)
_SHAPES = (
    (6, 6, (_TEXT, _INT, _TEXT, _INT, _INT)),  # HELLO
    (6, 6, (_INT, _TEXT, _INT, _LIST_OR_NONE, _NUM_OR_NONE)),  # DESCRIBE
    (2, -1, (_INT,)),  # PUB
    (3, -1, (_INT, _INT)),  # DELIVER
    (3, 4, (_INT, _INT, _TEXT)),  # ACK
    (2, 2, (_INT,)),  # PING
    (3, 3, (_INT, _INT)),  # PONG
    (3, 3, (_INT, _TEXT)),  # LOG
    (3, -1, (_INT, _TEXT)),  # ERROR
    (1, 1 + MAX_ENDPOINTS, ()),  # QUERY (topic ids checked in check())
)


def _type_ok(t, v):
    if t == _INT:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0
    if t == _TEXT:
        return isinstance(v, str)
    if t == _LIST_OR_NONE:
        return v is None or isinstance(v, list)
    if t == _NUM_OR_NONE:
        return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
    return True


def check(msg):
    """Kind of a decoded message after checking its shape; raises ``ProtocolError`` otherwise.

    A different protocol version raises ``ProtocolError`` with code ``ERR_VERSION`` and
    ``detail == (their_version, VERSION)``, before anything else of the message is looked at.
    """
    if not isinstance(msg, list) or not msg:
        raise ProtocolError(ERR_MALFORMED, "body is not a non-empty CBOR array")
    h = msg[0]
    if not isinstance(h, int) or isinstance(h, bool) or h < 0:
        raise ProtocolError(ERR_MALFORMED, "first element must be the header int (version, kind)")
    v = version_of(h)
    if v != VERSION:
        raise ProtocolError(
            ERR_VERSION, "protocol version %d received; this side speaks version %d" % (v, VERSION), (v, VERSION)
        )
    k = kind_of(h)
    if k >= len(_SHAPES):
        raise ProtocolError(ERR_MALFORMED, "unknown message kind %d" % k)
    lo, hi, types = _SHAPES[k]
    n = len(msg)
    if n < lo or (hi >= 0 and n > hi):
        raise ProtocolError(ERR_MALFORMED, "%s has %d elements; expected %s" % (
            KIND_NAMES[k], n, str(lo) if lo == hi else "%d..%s" % (lo, "" if hi < 0 else str(hi))))
    for i in range(len(types)):
        if i + 1 < n and not _type_ok(types[i], msg[i + 1]):
            raise ProtocolError(ERR_MALFORMED, "%s element %d has the wrong type: %r" % (KIND_NAMES[k], i + 1, msg[i + 1]))
    if k == DESCRIBE:
        _check_describe(msg)
    elif k == PUB and msg[1] >= REF_LIMIT:
        raise ProtocolError(ERR_MALFORMED, "PUB ref %d does not fit 30 bits" % msg[1])
    elif k == DELIVER and (msg[1] >= MAX_ENDPOINTS or msg[2] > MAX_MSG_ID):
        raise ProtocolError(ERR_MALFORMED, "DELIVER topic %d or msg_id %d out of range" % (msg[1], msg[2]))
    elif k == QUERY:
        for t in msg[1:]:
            if not _type_ok(_INT, t) or t >= MAX_ENDPOINTS:
                raise ProtocolError(ERR_MALFORMED, "QUERY topic id %r is not an int below %d" % (t, MAX_ENDPOINTS))
    return k


def _check_describe(msg):
    if msg[1] >= MAX_ENDPOINTS:
        raise ProtocolError(ERR_MALFORMED, "DESCRIBE topic id %d >= %d" % (msg[1], MAX_ENDPOINTS))
    if msg[3] not in (DEVICE_PUBLISHES, DEVICE_SUBSCRIBES):
        raise ProtocolError(ERR_MALFORMED, "DESCRIBE direction %r is neither 0 nor 1" % msg[3])
    fields = msg[4]
    if fields is not None:
        for f in fields:
            if not (isinstance(f, list) and 2 <= len(f) <= 3 and isinstance(f[0], str)
                    and (f[1] in FIELD_TYPES or f[1] in ARRAY_TYPES)):
                raise ProtocolError(
                    ERR_MALFORMED, "DESCRIBE field %r is not [name, type] or [name, type, default] with type "
                    "one of f i b s y a or an array type ([i1 [u1 [i2 [u2 [i4 [u4 [i8 [u8 [f4 [f8)" % (f,)
                )
