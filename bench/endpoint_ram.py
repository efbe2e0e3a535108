"""What one more endpoint costs a board in RAM, measured under MicroPython (the WebAssembly port, 32-bit).

    .venv/bin/python bench/endpoint_ram.py

Two figures per endpoint kind: the class (the method's code and the decorator's wrapper, kept as long as the
class exists) and the Node (its row in the endpoint table). Read after gc.collect(), each in its own part of
the script (see bench/lite.py on why). Prints the figures; asserts nothing. docs/devices.md quotes them.
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PUB = '''
    @ether_pub(every=1.0)
    def p{i}(self):
        return {{"v": 1.0}}
'''
SUB = '''
    @ether_sub(fields=[("on", "b")])
    def s{i}(self, on):
        self.on = on
'''


def script(n: int) -> str:
    """Classes with 1 and 1 + n publishers, and with 1 + n subscribers; RAM of each class and its Node."""
    pubs = "".join(PUB.format(i=i) for i in range(n + 1))
    subs = "".join(SUB.format(i=i) for i in range(n + 1))
    parts = [
        "import gc\nfrom ether_lite import ether_pub, ether_sub, Node\nfrom ether_lite.links.memory import "
        "memory_pair\nlinks = [memory_pair() for _ in range(3)]\ngc.collect()",
        "a = gc.mem_alloc()",
        "class One:" + PUB.format(i=0) + "\ngc.collect()",
        "b = gc.mem_alloc()",
        "class Pubs:" + pubs + "\ngc.collect()",
        "c = gc.mem_alloc()",
        "class Subs:" + subs + "\ngc.collect()",
        "d = gc.mem_alloc()",
        "n1 = Node(One(), links[0][0], device_id='a', boot_id=1)\ngc.collect()",
        "e = gc.mem_alloc()",
        "n2 = Node(Pubs(), links[1][0], device_id='b', boot_id=1)\ngc.collect()",
        "f = gc.mem_alloc()",
        "n3 = Node(Subs(), links[2][0], device_id='c', boot_id=1)\ngc.collect()",
        "g = gc.mem_alloc()",
        f"N = {n}\nprint('CLASS_PUB', ((c - b) - (b - a)) / N)\nprint('CLASS_SUB', ((d - c) - (b - a)) / N)\n"
        "print('NODE_PUB', ((f - e) - (e - d)) / N)\nprint('NODE_SUB', ((g - f) - (e - d)) / N)\n"
        "print('NODE_ONE', e - d)",
    ]
    return "\n#--- top level\n".join(parts) + "\n"


def main() -> int:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "@micropython").exists():
        print("skipped: run `make deps` (needs node and node_modules)")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "endpoints.py"
        path.write_text(script(8))
        proc = subprocess.run([node, str(ROOT / "tests/micropython/run.mjs"), "--copy",
                               f"{ROOT / 'ether_lite'}=/lib/ether_lite", str(path)],
                              capture_output=True, text=True, timeout=120, cwd=ROOT)
    if proc.returncode:
        print(proc.stderr, file=sys.stderr)
        return 1
    fig = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    print(f"a Node with one publisher            {int(float(fig['NODE_ONE'])):>6} B (buffers, tables)")
    for kind in ("PUB", "SUB"):
        name = "publisher" if kind == "PUB" else "subscriber"
        print(f"one more {name:<10} in the class    {float(fig['CLASS_' + kind]):>6.0f} B")
        print(f"one more {name:<10} in the Node     {float(fig['NODE_' + kind]):>6.0f} B")
    return 0


if __name__ == "__main__":
    sys.exit(main())
