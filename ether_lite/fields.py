"""The fields of a topic that declared none (PROTOCOL.md, DESCRIBE): those a publisher's first reading
defines, and those of a subscriber's signature where the interpreter keeps one (CPython: the parameters after
``self``, typed by their annotations, a parameter's default as a third element where it is a small plain
value, which the host may then leave out).

A board loads this module for the occasion and drops it again (``ether_lite.node._drop``): once per
publisher without ``fields=``, at its first reading. MicroPython and CircuitPython functions keep neither
annotations nor defaults: there a subscriber declares ``fields=`` or the host sends one map of keyword
arguments.
"""

# DESCRIBE field types of values and annotations
_TYPES = ((bool, "b"), (int, "i"), (float, "f"), (str, "s"), (bytes, "y"), (bytearray, "y"))


def of_value(value):
    """The fields a reading defines: a dict's keys, ``v0``, ``v1`` ... of a tuple, else ``value``; each
    typed by its value (an ``array.array``: its array type, ``"[i2"``; ``a``: any other)."""
    out = []  # (loops, not comprehensions: on MicroPython each comprehension is one more function)
    if isinstance(value, dict):
        for k in value:
            out.append([k, _type_code(value[k])])
    elif isinstance(value, tuple):
        for i in range(len(value)):
            out.append(["v%d" % i, _type_code(value[i])])
    else:
        out.append(["value", _type_code(value)])
    return out


def of_signature(fn):
    """``[[name, type], ...]`` (``[name, type, default]`` for an optional one) of ``fn``'s parameters, or
    None where the interpreter keeps no signature (MicroPython, CircuitPython)."""
    try:
        code = fn.__code__
        notes = fn.__annotations__
    except AttributeError:
        return None
    defaults = getattr(fn, "__defaults__", None) or ()
    kwdefaults = getattr(fn, "__kwdefaults__", None) or {}
    npos = code.co_argcount
    first = npos - len(defaults)  # the positional parameters from here on have defaults
    out = []
    for i in range(1, npos + code.co_kwonlyargcount):
        n = code.co_varnames[i]
        f = [n, _type_code(notes.get(n), True)]  # annotations may be strings
        if i < npos:
            if i >= first and _describable(defaults[i - first]):
                f.append(defaults[i - first])
        elif n in kwdefaults and _describable(kwdefaults[n]):
            f.append(kwdefaults[n])
        out.append(f)
    return out


def _type_code(v, is_type=False):
    """The DESCRIBE type of a value (or, ``is_type``, of an annotation: a type or its name); an
    ``array.array`` value is its array type (``"[i2"``: ``ether_lite.typed``)."""
    for t, c in _TYPES:
        if (v is t or v == t.__name__) if is_type else isinstance(v, t):
            return c
    if not is_type and type(v).__name__ == "array":
        from ether_lite import typed

        return typed.field_type(typed.typecode(v))
    return "a"


def _describable(v):
    """Whether a parameter's default goes into DESCRIBE: small plain values only (a DESCRIBE is one frame);
    a field whose default is anything else stays required."""
    if v is None or isinstance(v, (bool, float)):
        return True
    if isinstance(v, int):
        return -(1 << 31) <= v < 1 << 31
    return isinstance(v, (str, bytes)) and len(v) <= 32
