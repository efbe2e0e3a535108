"""Entry point under MicroPython and CircuitPython: run every check of lite_checks.py, exit with the number
failed.

    node tests/micropython/run.mjs --copy ether_lite=/lib/ether_lite --copy tests/micropython=/checks \
        --copy tests/vectors=/vectors tests/micropython/run_checks.py
    MICROPYPATH=LIBDIR circuitpython tests/micropython/run_checks.py tests/micropython tests/vectors \
        LIBDIR/ether_lite
"""

# Runs under MicroPython too: no contextlib, no next() defaults idioms needed, %-formatting kept.

import sys

_args = (globals().get("ARGV") or sys.argv)[1:]  # the WebAssembly port has no sys.argv: run.mjs sets ARGV
CHECKS, VECTORS, PACKAGE = _args if len(_args) == 3 else ("/checks", "/vectors", "/lib/ether_lite")
sys.path.append(CHECKS)

import lite_checks  # noqa: E402 (found through the path set above)

lite_checks.VECTORS = VECTORS
lite_checks.PACKAGE = PACKAGE
failed = lite_checks.run_all()
print("%d checks failed" % failed if failed else "all checks passed")
sys.exit(failed)
