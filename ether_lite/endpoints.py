"""Decorators ``ether_pub`` / ``ether_sub`` and the endpoint table a Node builds from them.

The decorators mirror the host's names (``ether_medium``), so a class reads the same on a board and on
the host. MicroPython functions carry no attributes, so what a decorator declares is kept in a module
table keyed by the function object; ``find_endpoints(obj)`` looks the class's functions up in it.
"""

from ether_lite import protocol

try:  # annotations only; nothing from typing is needed at run time
    from typing import Any, Callable  # noqa: F401
except ImportError:
    pass

# function (as stored on the class) -> [original function, pub spec or None, sub spec or None]
_DECLARED = {}

# objects a Node serves: id(obj) -> Node (so that calling a publishing method publishes)
_NODES = {}


def ether_pub(topic=None, every=None, fields=None):
    """Publish what the method returns: at a rate (``every`` seconds), when the Node is asked
    (``node.publish(obj.method)``), and whenever the method is called.

    The topic defaults to ``"ClassName.method"``. The method returns a dict (field name -> value), a
    tuple, or one value (field ``"value"``); ``None`` publishes nothing. ``fields`` (names, or
    ``(name, type)`` pairs with type in ``"fibsya"``) declares the fields up front; otherwise the first
    published value defines them.
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
            publishing.__name__ = getattr(fn, "__name__", "method")
            publishing.__doc__ = getattr(fn, "__doc__", None)
            publishing.__wrapped__ = fn
        except AttributeError:  # MicroPython functions take no attributes
            pass
        return publishing

    return decorate


def ether_sub(topic=None, fields=None):
    """Call this method with keyword arguments when the host publishes to its topic (DELIVER).

    The topic defaults to ``"ClassName.method"``. On CPython the fields come from the signature and
    annotations; MicroPython has neither, so give ``fields=`` or let the host send a keyword map.
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
        if isinstance(f, str):
            out.append([f, "a"])
        else:
            name, t = f
            if t not in protocol.FIELD_TYPES:
                raise ValueError("field %r has type %r; use one of f i b s y a" % (name, t))
            out.append([name, t])
    return out


_ANNOTATION_TYPES = {"float": "f", "int": "i", "bool": "b", "str": "s", "bytes": "y"}


def signature_fields(fn):
    """``[[name, type], ...]`` of a function's parameters after ``self``, or None where the interpreter
    cannot tell (MicroPython)."""
    try:
        code = fn.__code__
        names = code.co_varnames[1 : code.co_argcount + code.co_kwonlyargcount]
        notes = fn.__annotations__
    except AttributeError:
        return None
    out = []
    for n in names:
        a = notes.get(n)
        a = getattr(a, "__name__", a)
        out.append([n, _ANNOTATION_TYPES.get(a, "a")])
    return out


def type_code(v):
    if isinstance(v, bool):
        return "b"
    if isinstance(v, int):
        return "i"
    if isinstance(v, float):
        return "f"
    if isinstance(v, str):
        return "s"
    if isinstance(v, (bytes, bytearray)):
        return "y"
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
        self.name = topic or "%s.%s" % (type(obj).__name__, attr)
        self.every_s = None if every is None else float(every)
        self.period_ms = 0 if every is None else max(1, int(every * 1000))
        self.fields = fields
        if fields is None and direction == protocol.DEVICE_SUBSCRIBES:
            self.fields = signature_fields(fn)
        self.topic_id = -1
        self.seq = 0
        self.due_ms = 0

    def describe(self):
        return protocol.describe(self.topic_id, self.name, self.direction, self.fields, self.every_s)


def find_endpoints(objs):
    """Endpoints of the decorated methods of ``objs``, with topic ids assigned in name order."""
    eps = []
    for obj in objs:
        cls = type(obj)
        for attr in dir(cls):
            fn = getattr(cls, attr, None)
            try:
                entry = _DECLARED.get(fn)
            except TypeError:  # unhashable class attribute
                continue
            if entry is None:
                continue
            if entry[1] is not None:
                eps.append(Endpoint(obj, attr, entry[0], protocol.DEVICE_PUBLISHES, entry[1]))
            if entry[2] is not None:
                eps.append(Endpoint(obj, attr, entry[0], protocol.DEVICE_SUBSCRIBES, entry[2]))
    eps.sort(key=lambda e: (e.name, e.direction))
    if len(eps) > protocol.MAX_ENDPOINTS:
        raise ValueError("%d endpoints; a device has at most %d" % (len(eps), protocol.MAX_ENDPOINTS))
    for i in range(len(eps)):
        eps[i].topic_id = i
    return eps
