"""Entry point under MicroPython: run every check of lite_checks.py, exit with the number failed.

    node tests/micropython/run.mjs --copy ether_lite=/lib/ether_lite --copy tests/micropython=/checks \
        --copy tests/vectors=/vectors tests/micropython/run_checks.py
"""

# Runs under MicroPython too: no contextlib, no next() defaults idioms needed, %-formatting kept.

import sys

sys.path.append("/checks")

import lite_checks

lite_checks.VECTORS = "/vectors"
lite_checks.PACKAGE = "/lib/ether_lite"
failed = lite_checks.run_all()
print("%d checks failed" % failed if failed else "all checks passed")
sys.exit(failed)
