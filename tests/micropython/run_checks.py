"""Entry point under MicroPython: run every check of lite_checks.py, exit with the number failed.

    node tests/micropython/run.mjs --copy ether_lite=/lib/ether_lite --copy tests/micropython=/checks \
        --copy tests/vectors=/vectors tests/micropython/run_checks.py
"""

import sys

sys.path.append("/checks")

import lite_checks  # noqa: E402

lite_checks.VECTORS = "/vectors"
lite_checks.PACKAGE = "/lib/ether_lite"
failed = lite_checks.run_all()
print("%d checks failed" % failed if failed else "all checks passed")
sys.exit(failed)
