"""The fields of a subscriber's signature, on interpreters that keep one (CPython): the parameters after
``self``, typed by their annotations, with a parameter's default as a third element where it is a small plain
value (PROTOCOL.md, DESCRIBE: the host may then leave that field out).

MicroPython and CircuitPython functions keep neither annotations nor defaults, so a board never loads this
module (``ether_lite.startup`` imports it only for functions that have ``__annotations__``): there a
subscriber declares ``fields=`` or the host sends one map of keyword arguments.
"""

from ether_lite.node import _TYPES


def fields(fn):
    """``[[name, type], ...]`` (``[name, type, default]`` for an optional one) of ``fn``'s parameters."""
    code = fn.__code__
    notes = fn.__annotations__
    defaults = getattr(fn, "__defaults__", None) or ()
    kwdefaults = getattr(fn, "__kwdefaults__", None) or {}
    npos = code.co_argcount
    first = npos - len(defaults)  # the positional parameters from here on have defaults
    out = []
    for i in range(1, npos + code.co_kwonlyargcount):
        n = code.co_varnames[i]
        f = [n, _type_code(notes.get(n))]
        if i < npos:
            if i >= first and _describable(defaults[i - first]):
                f.append(defaults[i - first])
        elif n in kwdefaults and _describable(kwdefaults[n]):
            f.append(kwdefaults[n])
        out.append(f)
    return out


def _type_code(note):
    """The DESCRIBE type of an annotation (a type, or its name: annotations may be strings)."""
    for t, c in _TYPES:
        if note is t or note == t.__name__:
            return c
    return "a"


def _describable(v):
    """Whether a parameter's default goes into DESCRIBE: small plain values only (a DESCRIBE is one frame);
    a field whose default is anything else stays required."""
    if v is None or isinstance(v, (bool, float)):
        return True
    if isinstance(v, int):
        return -(1 << 31) <= v < 1 << 31
    return isinstance(v, (str, bytes)) and len(v) <= 32
