"""Decorators ``ether_pub`` / ``ether_sub`` and the endpoint table a Node builds from them.

The decorators mirror the host's names (``ether_medium``), so a class reads the same on a board and on
the host. MicroPython functions carry no attributes, so what a decorator declares is kept in a module
table keyed by the function object; ``find_endpoints(objs)`` looks the class's functions up in it.

An endpoint is one list (no object per endpoint): its first six elements are its DESCRIBE message
(PROTOCOL.md), then what the Node needs to serve it::

    [1, topic_id, name, direction, fields, every_s, obj, attr, fn, period_ms, seq, due_ms]

``fn`` is the undecorated function (``fn(obj)`` publishes nothing by itself); ``fields`` is a list of
``[name, type]`` or None until known. ``ether_lite.node`` names the positions with ``const``s.
"""

try:
    from micropython import const
except ImportError:  # CPython: every const here is an int
    const = int


_DESCRIBE = const(1)
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
    spec = (topic, every, _fields(fields))

    def decorate(fn):
        entry = _DECLARED.pop(fn, None) or [fn, None, None]
        inner = entry[0]

        def publishing(self, *args, **kwargs):
            result = inner(self, *args, **kwargs)
            node = _NODES.get(id(self))
            if node is not None and result is not None:
                node.published(self, publishing, result)
            return result

        entry[1] = spec
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
    spec = (topic, None, _fields(fields))

    def decorate(fn):
        entry = _DECLARED.get(fn) or [fn, None, None]
        entry[2] = spec
        _DECLARED[fn] = entry
        return fn

    return decorate


def _fields(fields):
    """Declared fields as ``[[name, type], ...]`` (None when not declared)."""
    if fields is None:
        return None
    out = []
    for f in fields:
        f = [f, "a"] if isinstance(f, str) else list(f)
        if len(f) != 2 or f[1] not in _TYPES:
            raise ValueError("field %r: give a name or (name, type) with type one of f i b s y a" % (f,))
        out.append(f)
    return out


def fields_of(value, fn=None):
    """Fields defined by a published ``value`` (a dict, a tuple or one value) when none were declared;
    with ``fn``, the fields of a subscriber's signature (None where the interpreter cannot tell: MicroPython)."""
    out = []  # (loops, not comprehensions: on MicroPython each comprehension is one more function)
    if fn is not None:
        try:
            code = fn.__code__
            notes = fn.__annotations__
        except AttributeError:
            return None
        for n in code.co_varnames[1 : code.co_argcount + code.co_kwonlyargcount]:
            out.append([n, _type_code(notes.get(n), True)])  # annotations may be strings
    elif isinstance(value, dict):
        for k in value:
            out.append([k, _type_code(value[k])])
    elif isinstance(value, tuple):
        for i in range(len(value)):
            out.append(["v%d" % i, _type_code(value[i])])
    else:
        out.append(["value", _type_code(value)])
    return out


def _type_code(v, is_type=False):
    """The DESCRIBE type of a value (or, ``is_type``, of an annotation)."""
    for t, c in ((bool, "b"), (int, "i"), (float, "f"), (str, "s"), (bytes, "y"), (bytearray, "y")):
        if (v is t or v == t.__name__) if is_type else isinstance(v, t):
            return c
    return "a"


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
                for d in (0, 1):  # DEVICE_PUBLISHES, DEVICE_SUBSCRIBES
                    if entry[1 + d] is not None:
                        topic, every, fields = entry[1 + d]
                        fn = entry[0]
                        if fields is None and d:
                            fields = fields_of(None, fn)
                        eps.append([_DESCRIBE, 0, topic or cls.__name__ + "." + attr, d, fields,
                                    None if every is None else float(every), obj, attr, fn,
                                    0 if every is None else max(1, int(every * 1000)), 0, 0])
    eps.sort(key=lambda e: (e[2], e[3]))
    if len(eps) > _MAX_ENDPOINTS:
        raise ValueError("%d endpoints; a device has at most %d" % (len(eps), _MAX_ENDPOINTS))
    for i in range(len(eps)):
        eps[i][1] = i
    return eps
