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
    ``array.array`` value is ``"["`` and its element type (``array_type``)."""
    for t, c in _TYPES:
        if (v is t or v == t.__name__) if is_type else isinstance(v, t):
            return c
    if not is_type and type(v).__name__ == "array":
        from ether_lite.typed import typecode

        return array_type(typecode(v))
    return "a"


def array_type(tc):
    """The DESCRIBE type of arrays of ``array`` typecode ``tc`` (``"h"``: ``"[i2"``), or None when it has
    no typed array (PROTOCOL.md, "Arrays"): the element's kind (``i`` signed, ``u`` unsigned, ``f`` float)
    and its size in bytes, which for ``l``, ``L`` (and on some ports ``i``) differs between machines."""
    if len(tc) != 1 or tc not in "bBhHiIlLqQfd":
        return None
    import struct

    return "[%s%d" % ("f" if tc in "fd" else "i" if tc in "bhilq" else "u", struct.calcsize(tc))


def declared_type(t):
    """A declared field type as DESCRIBE spells it: a scalar code (``"f"``), an array type (``"[i2"``), or
    ``"["`` and an ``array`` typecode (``"[h"``, made ``"[i2"``); None for anything else."""
    if t in _ARRAY_TYPES or (len(t) == 1 and t in "fibsya"):
        return t
    if len(t) == 2 and t[0] == "[":
        return array_type(t[1])
    return None


# the DESCRIBE types of arrays (protocol.ARRAY_TYPES)
_ARRAY_TYPES = ("[i1", "[u1", "[i2", "[u2", "[i4", "[u4", "[i8", "[u8", "[f4", "[f8")


def _describable(v):
    """Whether a parameter's default goes into DESCRIBE: small plain values only (a DESCRIBE is one frame);
    a field whose default is anything else stays required."""
    if v is None or isinstance(v, (bool, float)):
        return True
    if isinstance(v, int):
        return -(1 << 31) <= v < 1 << 31
    return isinstance(v, (str, bytes)) and len(v) <= 32
