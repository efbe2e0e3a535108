"""``supervisor`` of the emulated board: ``ticks_ms()`` wrapping at 2**29 as on a board, ``runtime``,
``reload()`` (restarts code.py without boot.py, like a board's soft reload)."""

import time


def ticks_ms():
    return time.ticks_ms() & 0x1FFFFFFF


class Reload(BaseException):
    """code.py starts again (raised by ``reload()``, handled by the runner)."""


def reload():
    raise Reload()


class _Runtime:
    serial_connected = True
    usb_connected = True
    autoreload = False


runtime = _Runtime()
