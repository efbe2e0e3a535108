"""The device clock: a wrapping millisecond tick counter, as in PROTOCOL.md ("PING / PONG").

MicroPython: ``time.ticks_ms`` (wraps at 2**30). CircuitPython: ``supervisor.ticks_ms`` (wraps at 2**29).
CPython: ``time.monotonic_ns`` reduced to 2**30, so a desktop device behaves like a board.
"""

import time

try:
    import supervisor

    ticks_ms = supervisor.ticks_ms
    TICKS_PERIOD = 1 << 29
except (ImportError, AttributeError):
    try:
        ticks_ms = time.ticks_ms
        TICKS_PERIOD = 1 << 30
    except AttributeError:  # CPython
        TICKS_PERIOD = 1 << 30

        def ticks_ms():
            return (time.monotonic_ns() // 1000000) & 0x3FFFFFFF


_HALF = TICKS_PERIOD >> 1
_MASK = TICKS_PERIOD - 1


def ticks_diff(a, b):
    """Signed ``a - b`` in ms on the wrapping clock."""
    d = (a - b) & _MASK
    if d >= _HALF:
        d -= TICKS_PERIOD
    return d


def ticks_add(a, delta_ms):
    return (a + delta_ms) & _MASK


def sleep_ms(ms):
    if ms > 0:
        try:
            time.sleep_ms(ms)
        except AttributeError:
            time.sleep(ms / 1000)
