"""Run a CIRCUITPY drive under CircuitPython's unix port the way a board's supervisor does::

    circuitpython -X heapsize=64K tests/circuitpython/run_drive.py DRIVE [--id DEVICE_ID]

The import path is a board's (the drive's root, then its ``lib/``) behind the emulated board modules of
``tests/circuitpython/board`` (``usb_cdc``, ``board``, ``digitalio``, ``microcontroller``, ``supervisor``),
which only this runner puts on the path: they are never on the drive. ``boot.py`` runs once, then ``code.py``
as ``__main__``; ``microcontroller.reset()`` starts over from boot.py with every module of the drive
imported afresh, ``supervisor.reload()`` from code.py. When code.py ends or raises, the board stops (exit
status 0 or 1: a real board waits at "Code done running"). ``--id`` sets ``ETHER_DEVICE_ID``, as a board's
``settings.toml`` would.
"""

import os
import sys


def _exec(path):
    try:
        with open(path) as f:
            source = f.read()
    except OSError:
        return False
    exec(compile(source, path, "exec"), {"__name__": "__main__", "__file__": path})
    return True


def main(args):
    drive = args[0].rstrip("/")
    if len(args) == 3 and args[1] == "--id":
        os.putenv("ETHER_DEVICE_ID", args[2])
    elif len(args) != 1:
        print("usage: run_drive.py DRIVE [--id DEVICE_ID]", file=sys.stderr)
        return 2
    here = __file__.rpartition("/")[0] or "."
    sys.path[:] = [here + "/board", drive, drive + "/lib"]
    os.chdir(drive)
    import digitalio
    import microcontroller
    import supervisor
    import usb_cdc

    native = set(sys.modules)  # the board's own modules survive a reset, as its firmware does
    boot = True
    while True:
        for name in list(sys.modules):
            if name not in native:
                del sys.modules[name]
        digitalio._boot()
        try:
            if boot:
                _exec("boot.py")
                usb_cdc._boot()
            boot = True
            if not _exec("code.py"):
                print("run_drive: " + drive + " has no code.py", file=sys.stderr)
                return 1
            return 0
        except microcontroller.Reset:
            continue
        except supervisor.Reload:
            boot = False


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
