"""The board-side cost of a device key (PROTOCOL.md 6.1), under MicroPython (WebAssembly port, via node):
heap taken by importing ether_lite.keyed and by one Key, garbage allocated per sealed frame, time per seal.

    .venv/bin/python bench/lite_keyed.py

Prints one line; asserts nothing. The bytes per frame are fixed by the protocol (12, see PROTOCOL.md).
"""

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MP_SCRIPT = """
import gc, time
import ether_lite, struct, hashlib
gc.collect(); f0 = gc.mem_free()
from ether_lite import keyed
gc.collect(); f1 = gc.mem_free()
k = keyed.Key("correct horse battery staple")
gc.collect(); f2 = gc.mem_free()
buf = bytearray(261)
buf[1:11] = b"\\x83\\x02\\x1a\\x04\\x8d\\x00\\x61\\xf9\\x4d\\x60"
nonce = b"\\xa0" * 8
k.seal(buf, 1, 10, keyed.DEVICE, 0, nonce)
gc.collect()
gc.disable()
m0 = gc.mem_alloc()
for i in range(100):
    k.seal(buf, 1, 10, keyed.DEVICE, i, nonce)
m1 = gc.mem_alloc()
gc.enable()
t = time.ticks_ms()
for i in range(200):
    k.seal(buf, 1, 10, keyed.DEVICE, i, nonce)
dt = time.ticks_diff(time.ticks_ms(), t)
print("MicroPython: import ether_lite.keyed %d B heap; a Key %d B; %d B garbage per sealed frame; "
      "%.3f ms per seal (WebAssembly)" % (f0 - f1, f1 - f2, (m1 - m0) // 100, dt / 200))
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "keyed_cost.py"
        script.write_text(MP_SCRIPT, encoding="utf-8")
        proc = subprocess.run(
            [
                "node",
                str(ROOT / "tests/micropython/run.mjs"),
                "--copy",
                "ether_lite=/lib/ether_lite",
                str(script),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    sys.stdout.write(proc.stdout + proc.stderr)
    print("bytes per keyed frame: +12 (4 counter + 8 MAC); HELLO +18 (proof, sessions); QUERY +9 (nonce)")


if __name__ == "__main__":
    main()
