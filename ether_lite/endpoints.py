"""Decorators ``ether_pub`` / ``ether_sub``: what a class declares for its Node to serve.

The decorators mirror the host's names (``ether_medium``), so a class reads the same on a board and on
the host. MicroPython functions carry no attributes, so what a decorator declares is kept in a module
table keyed by the function object; ``ether_lite.startup`` (loaded by a Node once, then dropped) looks
the class's functions up in it, checks the declarations and builds the endpoint table from them.
"""

# function as stored on the class -> [undecorated function, pub spec or None, sub spec or None]
_DECLARED = {}
# id(obj) -> the Node serving obj, so that calling a publishing method publishes
_NODES = {}


def ether_pub(topic=None, every=None, fields=None):
    """Publish what the method returns: at a rate (``every`` seconds), on ``node.publish(obj.method)``,
    and whenever the method is called. Topic default ``"ClassName.method"``.

    Return a dict (field -> value), a tuple, or one value (field ``"value"``); ``None`` publishes nothing.
    ``fields`` (names, or ``(name, type)`` with type in ``"fibsya"`` or an array's ``"["`` and typecode,
    ``"[h"``, checked when a Node is made) declares them up front; otherwise the first published value
    defines them. An ``array.array`` value travels as a typed array (PROTOCOL.md, "Arrays").
    """
    spec = (topic, every, fields)

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

    Topic default ``"ClassName.method"``. On CPython the fields come from the signature and annotations,
    with the parameters' defaults (the host may leave those out); MicroPython has neither, so give
    ``fields=`` (``(name, type, default)`` for an optional one) or let the host send one keyword map.
    """
    spec = (topic, None, fields)

    def decorate(fn):
        entry = _DECLARED.get(fn) or [fn, None, None]
        entry[2] = spec
        _DECLARED[fn] = entry
        return fn

    return decorate
