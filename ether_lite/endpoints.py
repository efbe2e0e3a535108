"""Decorators ``ether_pub`` / ``ether_sub`` and the endpoint table a Node builds from them.

The decorators mirror the host's names (``ether_medium``), so a class reads the same on a board and on
the host. MicroPython functions carry no attributes, so what a decorator declares is kept in a module
table keyed by the function object; ``find_endpoints(objs)`` looks the class's functions up in it.

Wire constants are private ``const``s (no RAM on MicroPython); tests/test_lite_constants.py checks each
against ``ether_lite.protocol``, the single definition.
"""

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):  # type: ignore[no-redef]
        return x


_DESCRIBE = const(1)
_DEVICE_PUBLISHES = const(0)
_DEVICE_SUBSCRIBES = const(1)
_MAX_ENDPOINTS = const(32)
_TYPES = "fibsya"  # float int bool str bytes any (protocol.FIELD_TYPES)

# function as stored on the class -> [undecorated function, pub spec or None, sub spec or None]
_DECLARED = {}
# id(obj) -> the Node serving obj, so that calling a publishing method publishes
_NODES = {}


def ether_pub(topic=None, every=None, fields=None):
    """Publish what the method returns: at a rate (``every`` seconds), on ``node.publish(obj.method)``,
    and whenever the method is called. Topic default ``"ClassName.method"``.

    Return a dict (field -> value), a tuple, or one value (field ``"value"``); ``None`` publishes nothing.
    ``fields`` (names, or ``(name, type)`` with type in ``"fibsya"``) declares them up front; otherwise the
    first published value defines them.
    """

    def decorate(fn):
        entry = _DECLARED.pop(fn, None) or [fn, None, None]
        inner = entry[0]

        def publishing(self, *args, **kwargs):
            result = inner(self, *args, **kwargs)
            node = _NODES.get(id(self))
            if node is not None and result is not None:
                node.published(self, publishing, result)
            return result

        entry[1] = (topic, every, _fields(fields))
        _DECLARED[publishing] = entry
        try:
            publishing.__name__ = fn.__name__
            publishing.__doc__ = fn.__doc__
            publishing.__wrapped__ = fn
        except AttributeError:  # MicroPython functions take no attributes
            pass
        return publishing

    return decorate


def ether_sub(topic=None, fields=None):
    """Call this method with keyword arguments when the host publishes to its topic (DELIVER).

    Topic default ``"ClassName.method"``. On CPython the fields come from the signature and annotations;
    MicroPython has neither, so give ``fields=`` or let the host send one keyword map.
    """

    def decorate(fn):
        entry = _DECLARED.get(fn) or [fn, None, None]
        entry[2] = (topic, None, _fields(fields))
        _DECLARED[fn] = entry
        return fn

    return decorate


def _fields(fields):
    if fields is None:
        return None
    out = []
    for f in fields:
        f = [f, "a"] if isinstance(f, str) else list(f)
        if len(f) != 2 or f[1] not in _TYPES:
            raise ValueError("field %r: give a name or (name, type) with type one of f i b s y a" % (f,))
        out.append(f)
    return out


_ANNOTATIONS = {"float": "f", "int": "i", "bool": "b", "str": "s", "bytes": "y"}


def signature_fields(fn):
    """``[[name, type], ...]`` of a method's parameters after ``self``; None where the interpreter
    cannot tell (MicroPython)."""
    try:
        code = fn.__code__
        names = code.co_varnames[1 : code.co_argcount + code.co_kwonlyargcount]
        notes = fn.__annotations__
    except AttributeError:
        return None
    return [[n, _ANNOTATIONS.get(getattr(notes.get(n), "__name__", notes.get(n)), "a")] for n in names]


def type_code(v):
    for t, c in ((bool, "b"), (int, "i"), (float, "f"), (str, "s"), (bytes, "y"), (bytearray, "y")):
        if isinstance(v, t):
            return c
    return "a"


def fields_of_result(result):
    """Fields a published value defines when none were declared."""
    if isinstance(result, dict):
        return [[k, type_code(result[k])] for k in result]
    if isinstance(result, tuple):
        return [["v%d" % i, type_code(result[i])] for i in range(len(result))]
    return [["value", type_code(result)]]


class Endpoint:
    """One published or subscribed topic of one object."""

    def __init__(self, obj, attr, fn, direction, spec):
        topic, every, fields = spec
        self.obj = obj
        self.attr = attr
        self.fn = fn  # the undecorated function: fn(obj) publishes nothing by itself
        self.direction = direction
        self.name = topic or type(obj).__name__ + "." + attr
        self.every_s = None if every is None else float(every)
        self.period_ms = 0 if every is None else max(1, int(every * 1000))
        if fields is None and direction == _DEVICE_SUBSCRIBES:
            fields = signature_fields(fn)
        self.fields = fields
        self.topic_id = -1
        self.seq = 0
        self.due_ms = 0

    def describe(self):
        return [_DESCRIBE, self.topic_id, self.name, self.direction, self.fields, self.every_s]


def find_endpoints(objs):
    """Endpoints of the decorated methods of ``objs``, topic ids assigned in name order."""
    eps = []
    for obj in objs:
        cls = type(obj)
        for attr in dir(cls):
            try:
                entry = _DECLARED.get(getattr(cls, attr, None))
            except TypeError:  # unhashable class attribute
                continue
            if entry:
                for d in (_DEVICE_PUBLISHES, _DEVICE_SUBSCRIBES):
                    if entry[1 + d] is not None:
                        eps.append(Endpoint(obj, attr, entry[0], d, entry[1 + d]))
    eps.sort(key=lambda e: (e.name, e.direction))
    if len(eps) > _MAX_ENDPOINTS:
        raise ValueError("%d endpoints; a device has at most %d" % (len(eps), _MAX_ENDPOINTS))
    for i in range(len(eps)):
        eps[i].topic_id = i
    return eps
