"""ether_lite figures: wire size, codec speed against cbor2, .mpy size, RAM under MicroPython, (from
bench/lite_circuitpython.py) under CircuitPython 10.2.1, where a SAMD21 board's fit is decided, and RAM and
publish rate on an emulated Cortex-M3 with ether_lite frozen into its MicroPython firmware (QEMU).

    .venv/bin/python bench/lite.py

Prints one line per figure (targets from issue 3 in brackets); asserts nothing.
"""

import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cbor2  # noqa: E402
from thermometer_device import device_py  # noqa: E402

from ether_lite import Node, cbor, ether_pub, framing, protocol  # noqa: E402
from ether_lite.links.memory import memory_pair  # noqa: E402

# The core: what board code loads with `from ether_lite import ether_pub, ether_sub, run` and then
# run(..., link="usb_cdc"), apart from the one link module (links/usb_cdc.py, listed separately; it needs
# the usb_cdc board module, so the RAM figure below cannot import it). MP_SCRIPT checks under MicroPython
# that this is exactly the set of ether_lite modules the import loads. startup.py, receive.py,
# cbor_decoder.py and report.py are loaded when needed and dropped again (the Thermometer figure counts what
# they leave: their interned names). protocol.py, cbor.py and framing.py are the host/test side (full
# codec, one-shot framing helpers); a board never loads them.
CORE = [
    "__init__.py",
    "node.py",
    "endpoints.py",
    "clock.py",
    "cbor_core.py",
    "framing_core.py",
    "links/__init__.py",
]
BOARD_LINK = "links/usb_cdc.py"


def deployed_modules(all_modules: list[str]) -> tuple[list[str], str]:
    """What `ether deploy` copies to a board, by ether_medium's deploy rule (every module imported from
    ether_lite/__init__.py, imports inside functions included, less DESKTOP_ONLY)."""
    from ether_medium.deploy.board_files import board_files

    lite = ROOT / "ether_lite"
    return [p.relative_to(lite).as_posix() for p in board_files(lite)], "ether deploy's rule"


def line(label: str, value: str, target: str = "") -> None:
    print(f"{label:<58} {value}{'   [target ' + target + ']' if target else ''}")


def wire_bytes() -> None:
    class Sensor:
        value = 0.0

        @ether_pub(fields=[("celsius", "f")])
        def read(self) -> float:
            return self.value

    s = Sensor()
    dev, host = memory_pair()
    node = Node(s, dev, device_id="bench", boot_id=1)
    buf = bytearray(4096)
    node.poll()
    host.readinto(buf)
    for label, v in (
        ("single precision (every CircuitPython float)", struct.unpack(">f", struct.pack(">f", 21.437))[0]),
        ("half precision exact (21.5)", 21.5),
        ("double precision only (21.437 on CPython)", 21.437),
    ):
        s.value = v
        s.read()
        n = host.readinto(buf)
        line("wire bytes, one float reading, " + label, f"{n} B", "<= 16 B" if "single" in label else "")
    node.close()


def codec_speed() -> None:
    msgs = {
        "PUB float": protocol.pub(3, 7, 123456, [21.5]),
        "PUB mixed": protocol.pub(3, 7, 123456, [21.437, -5, True, "ok", b"\x01\x02"]),
        "DESCRIBE": protocol.describe(1, "Thermometer.read", 0, [["celsius", "f"], ["n", "i"]], 1.0),
    }
    n = 20000
    for name, msg in msgs.items():
        data = cbor2.dumps(msg, canonical=True)
        t = {}
        for label, fn in (
            ("lite enc", lambda msg=msg: cbor.dumps(msg)),
            ("cbor2 enc", lambda msg=msg: cbor2.dumps(msg, canonical=True)),
            ("lite dec", lambda data=data: cbor.loads(data)),
            ("cbor2 dec", lambda data=data: cbor2.loads(data)),
        ):
            start = time.perf_counter()
            for _ in range(n):
                fn()
            t[label] = (time.perf_counter() - start) / n * 1e6
        for op in ("enc", "dec"):
            lite, base = t["lite " + op], t["cbor2 " + op]
            line(
                f"CPython codec, {name}: {op}ode us (lite / cbor2)",
                f"{lite:.2f} / {base:.2f} us = {lite / base:.1f}x cbor2's time",
            )
    body = cbor2.dumps(msgs["PUB float"], canonical=True)
    out = bytearray(framing.MAX_FRAME)
    start = time.perf_counter()
    for _ in range(n):
        framing.encode_into(out, body)
    line("CPython framing, encode one PUB frame", f"{(time.perf_counter() - start) / n * 1e6:.2f} us")


def compile_mpy(dest: Path, *flags: str) -> dict[str, int]:
    """ether_lite compiled by CircuitPython's mpy-cross (from `make deps`) with ``flags``: module sizes."""
    from hil.circuitpython import compile_lite

    return compile_lite(dest, flags)


# Lines "#--- top level" split the script into separate calls from JavaScript: in this MicroPython port
# gc.collect() only runs once Python returns to JavaScript (tests/micropython/run.mjs), so every RAM figure
# is read in the part after the one that called gc.collect(). Without that split, gc.mem_alloc() also counts
# the garbage the imports left (compiler/loader buffers): 20.9 KB instead of the 17.5 KB really retained.
# Each reading is taken in a part of its own, as small as the part that took the reading it is compared
# with: the source and code of the part running are live at the time.
MP_SCRIPT = r"""
import gc
gc.collect()
#--- top level
a = gc.mem_alloc()
#--- top level
from ether_lite import ether_pub, ether_sub, run
import ether_lite.links
gc.collect()
#--- top level
IMPORT = gc.mem_alloc() - a
#--- top level
print("IMPORT", IMPORT)
import sys
print("LOADED", ",".join(sorted(m for m in sys.modules if m.startswith("ether_lite"))))

# The issue's minimal device (one publisher at 1 Hz, one subscriber) served by run(), as on a board, counted
# from the fresh interpreter above: imports, the class, the Node, the host's first frames answered (a PING,
# a DELIVER to set_led, both ACKed/answered: the receive path is loaded too) and the first reading sent. The
# link costs nothing (bench/thermometer_device.py).
THERMOMETER_DEVICE
link = None
gc.collect()
#--- top level
THERMO = gc.mem_alloc() - a
#--- top level
print("THERMO", THERMO)
from ether_lite import protocol, cbor, framing, Node
from ether_lite.links.memory import memory_pair

class Sensor:
    def __init__(self):
        self.value = 21.437
    @ether_pub()
    def read(self):
        return {"celsius": self.value}

s = Sensor()
dev, host = memory_pair()
gc.collect()
#--- top level
a = gc.mem_alloc()
#--- top level
nd = Node(s, dev, device_id="bench", boot_id=1)
gc.collect()
#--- top level
NODE = gc.mem_alloc() - a
#--- top level
print("NODE", NODE)
buf = bytearray(600)
nd.poll()
s.read()
while host.readinto(buf):
    pass
ep = nd.endpoint("Sensor.read")
result = s.read()
host.readinto(buf)
N = 200

def measure(fn):
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    for i in range(N):
        fn()
    b = gc.mem_alloc()
    gc.enable()
    return (b - a) / N

def pub_core():
    nd._pub(ep, result)
    host.readinto(buf)

def pub_full():
    s.read()
    host.readinto(buf)

body = bytearray(cbor.dumps(protocol.pub(0, 1, 2, [21.437])))
frame = bytearray(framing.MAX_FRAME)
nb = len(body)
def frame_encode():
    framing.encode_into(frame, body, nb)

nf = framing.encode_into(frame, body, nb)
dec = framing.FrameDecoder()
def frame_decode():
    dec.feed(frame, 0, nf)

# The modules a Node loads for the occasion: RAM while loaded, and once dropped (ether_lite.node._drop) and
# collected (what stays: the names they interned, never freed by MicroPython).
from ether_lite.node import _drop
gc.collect()
#--- top level
a = gc.mem_alloc()
#--- top level
from ether_lite import startup, receive, cbor_decoder, report
gc.collect()
#--- top level
LAZY_LOADED = gc.mem_alloc() - a
#--- top level
for m in ("startup", "receive", "cbor_decoder", "report"):
    _drop(m)
startup = receive = cbor_decoder = report = None
gc.collect()
#--- top level
LAZY_DROPPED = gc.mem_alloc() - a
#--- top level
print("LAZY", LAZY_LOADED, LAZY_DROPPED)
print("PUB_CORE", measure(pub_core))
print("PUB_FULL", measure(pub_full))
print("FRAME_ENC", measure(frame_encode))
print("FRAME_DEC", measure(frame_decode))
print("TYPED_BEFORE", int("ether_lite.typed" in sys.modules))

# Arrays (PROTOCOL.md, "Arrays"): the RAM of ether_lite.typed, which a board with an array field loads (one
# without never does), and what one array reading allocates.
gc.collect()
#--- top level
a = gc.mem_alloc()
#--- top level
from ether_lite import typed
gc.collect()
#--- top level
TYPED = gc.mem_alloc() - a
#--- top level
print("TYPED", TYPED)
import array

class Scope:
    def __init__(self):
        self.samples = array.array("h", range(100))
    @ether_pub(fields=[("samples", "[h")])
    def trace(self):
        return {"samples": self.samples}

sc = Scope()
dev2, host2 = memory_pair()
nd2 = Node(sc, dev2, device_id="scope", boot_id=2)
nd2.poll()
while host2.readinto(buf):
    pass
sc.trace()
host2.readinto(buf)
ep2 = nd2.endpoint("Scope.trace")
res2 = sc.trace()
host2.readinto(buf)
def pub_array():
    nd2._pub(ep2, res2)
    host2.readinto(buf)
print("PUB_ARRAY", measure(pub_array))
"""


def mp_script() -> str:
    """MP_SCRIPT with the Thermometer device answering one round of the host's frames."""
    return MP_SCRIPT.replace("THERMOMETER_DEVICE", device_py(rounds=1))


def micropython_ram(builds: list[tuple[str, Path]]) -> None:
    """RAM figures under MicroPython for each (label, directory holding ether_lite/) in ``builds``: all of
    them for the first (what `ether deploy` puts on a board), the import figure for the others."""
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "@micropython").exists():
        line("MicroPython figures", "skipped: run `make deps` (needs node and node_modules)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "ram.py"
        script.write_text(mp_script())
        for i, (label, build) in enumerate(builds):
            lib = build / "ether_lite"
            proc = subprocess.run(
                [
                    node,
                    str(ROOT / "tests/micropython/run.mjs"),
                    "--copy",
                    f"{lib}=/lib/ether_lite",
                    str(script),
                ],
                capture_output=True,
                text=True,
                timeout=120,
                cwd=ROOT,
            )
            if proc.returncode:
                line(f"MicroPython ({label})", "failed: " + proc.stderr.strip().splitlines()[-1])
                continue
            fig = dict(ln.split(" ", 1) for ln in proc.stdout.splitlines() if " " in ln)
            loaded = sorted(fig["LOADED"].split(","))
            want = sorted(("ether_lite." + m[:-3].replace("/", ".")).replace(".__init__", "") for m in CORE)
            want = [w if w != "ether_lite.__init__" else "ether_lite" for w in want]
            assert loaded == want, f"the board path loads {loaded}, the bench counts {want}"
            line(
                f"MicroPython RAM to import the core (from {label}: {len(loaded)} modules)",
                f"{int(fig['IMPORT'])} B",
                "<= 6 KB",
            )
            if i == 0:
                print(
                    "  (gc.mem_alloc() after gc.collect(), around `from ether_lite import ether_pub,"
                    " ether_sub, run; import ether_lite.links`,\n   which loads " + ", ".join(loaded) + ";\n"
                    f"   not counted: the link module run() then imports ({BOARD_LINK}, .mpy size above),"
                    " the Node's buffers (next line),\n   startup, receive, cbor_decoder, report (imported"
                    " when needed and dropped again: next line but one))"
                )
                line("MicroPython RAM of a Node with one publisher + memory link", f"{int(fig['NODE'])} B")
                loaded, dropped = fig["LAZY"].split()
                line(
                    "MicroPython RAM of startup+receive+cbor_decoder+report: loaded / dropped",
                    f"{loaded} B / {dropped} B",
                )
                thermo = int(fig["THERMO"])
                line("MicroPython RAM of the issue's Thermometer device, end to end",
                     f"{thermo} B = {thermo / 1024:.1f} KB")
                print(
                    "  (from a fresh interpreter: the imports, the class (1 Hz publisher + 1 subscriber),"
                    " run() on a link that costs nothing:\n   HELLO, DESCRIBEs, the host's PING and DELIVER"
                    f" answered, a reading sent; not counted: the link module, {BOARD_LINK[:-3]}.\n"
                    "   From the sources, in the WebAssembly port: whether a SAMD21 fits is CircuitPython's"
                    " figure, below)"
                )
                line(
                    "MicroPython bytes allocated per published reading (ether_lite)",
                    f"{float(fig['PUB_CORE']):.1f} B",
                    "<= 64 B",
                )
                line(
                    "MicroPython bytes per reading incl. the user's method (dict, float)",
                    f"{float(fig['PUB_FULL']):.1f} B",
                )
                line(
                    "MicroPython bytes allocated per frame encode / decode",
                    f"{float(fig['FRAME_ENC']):.1f} B / {float(fig['FRAME_DEC']):.1f} B",
                    "0",
                )
                assert fig["TYPED_BEFORE"] == "0", "a board without arrays loaded ether_lite.typed"
                line("MicroPython RAM of ether_lite.typed (arrays), kept by a board with an array field",
                     f"{int(fig['TYPED'])} B (a board without: 0)")
                line("MicroPython bytes allocated per array reading (100 int16)",
                     f"{float(fig['PUB_ARRAY']):.1f} B (a copy of its 200 bytes, and its typecode)")


def mpy_sizes() -> None:
    """Sizes of the .mpy files CircuitPython's mpy-cross (what `ether deploy` uses) makes of ether_lite."""
    from ether_medium.deploy.compiler import MPY_CROSS_FLAGS
    from hil.circuitpython import missing

    if why := missing():
        line(".mpy sizes", "skipped: " + why)
        return
    flags = " ".join(MPY_CROSS_FLAGS) or "no flags"
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as tmp_deploy:
        sizes = compile_mpy(Path(tmp))
        deployed = compile_mpy(Path(tmp_deploy), *MPY_CROSS_FLAGS)
    core = sum(sizes[m] for m in CORE)
    for m in CORE:
        line(f"  .mpy {m} (mpy-cross / with `ether deploy`'s {flags})", f"{sizes[m]} B / {deployed[m]} B")
    line(
        ".mpy size of the core (" + ", ".join(c[:-3] for c in CORE) + ")",
        f"{core} B = {core / 1024:.1f} KB",
        "<= 10 KB",
    )
    line(f".mpy size of the core + the board link ({BOARD_LINK[:-3]})", f"{core + sizes[BOARD_LINK]} B")
    rest = {m: s for m, s in sizes.items() if m not in CORE}
    line(
        ".mpy size of the rest (loaded when needed, then dropped, or host side)",
        ", ".join(f"{m[:-3]} {s} B" for m, s in rest.items()),
    )
    copied, rule = deployed_modules(list(sizes))
    total = sum(deployed[m] for m in copied)
    line(
        f".mpy size of what `ether deploy` copies ({rule}: " + ", ".join(m[:-3] for m in copied) + ")",
        f"{total} B = {total / 1024:.1f} KB",
    )
    line(
        f".mpy size of the core with `ether deploy`'s {flags} (-O3: no line numbers)",
        f"{sum(deployed[m] for m in CORE)} B",
    )


# The emulated board (hil/qemu_board.py): the first parts of MP_SCRIPT, each compiled and run by exec() as
# the top-level parts are under node, so that the code of each part counts in the figure taken after it.
QEMU_RAM = """\
import gc
g = {}
for part in PARTS:
    exec(part, g)
print("FIGURES", g["IMPORT"], g["THERMO"], gc.mem_alloc() + gc.mem_free())
"""
# The UART's raw rate (the baseline: bytes the board writes), then the conformance device's burst(n) on a
# Node over the stdio link, alternately, 3 rounds, each timed by the board; the host reads the pty as fast as
# it can, so that it does not pace the board. The best round of each counts (the machine may be shared).
QEMU_RATE = """\
import sys, time
from conformance import Thermometer
from ether_lite import Node
from ether_lite.links import open_link
link = open_link("stdio")
t = Thermometer()
node = Node(t, link, device_id="bench")
node.poll()
b = bytes(range(1, 256))
out = sys.stdout.buffer
raw = []
pub = []
for r in range(3):
    t0 = time.ticks_ms()
    for i in range(RAW_WRITES):
        out.write(b)
    raw.append(time.ticks_diff(time.ticks_ms(), t0))
    t0 = time.ticks_ms()
    t.burst(BURST_N)
    pub.append(time.ticks_diff(time.ticks_ms(), t0))
link.close()
print("RATES", min(raw), min(pub))
"""
RAW_WRITES = 1000  # of 255 bytes without a zero
BURST_N = 2000


def emulated_board() -> None:
    """RAM of the frozen core and of the Thermometer device, and the maximum publish rate, on MicroPython
    firmware for a Cortex-M3 (QEMU mps2-an385) with ether_lite frozen in; the baseline of the rate is what the
    board's UART carries when the board writes raw bytes, measured in the same program."""
    from hil.qemu_board import QemuBoard, read_until
    from hil.qemu_firmware import firmware_or_reason

    firmware, why = firmware_or_reason()
    if firmware is None:
        line("Emulated Cortex-M3 (QEMU) figures", "skipped: " + why.splitlines()[0])
        return

    def output(program: str) -> bytes:
        """What the program wrote on the line, up to the raw REPL's end marker."""
        board = QemuBoard(firmware, program)
        try:
            board.boot()
            assert board.fd is not None
            return read_until(board.fd, b"\x04\x04>", time.monotonic() + 120, "the program's end", 65536)
        finally:
            board.stop()

    def figures(out: bytes, name: str) -> list[int]:
        return [int(x) for x in out.split(name.encode() + b" ")[1].split(b"\r")[0].split()]

    parts = mp_script().split("#--- top level\n")[:6]
    core, thermo, heap = figures(output(f"PARTS = {parts!r}\n{QEMU_RAM}"), "FIGURES")
    print("Emulated Cortex-M3 (QEMU mps2-an385, MicroPython 1.28.0 firmware, ether_lite frozen in):")
    line("  heap of the board (gc.mem_alloc() + gc.mem_free())", f"{heap} B = {heap / 1024:.0f} KB")
    line("  RAM to import the frozen core (as the MicroPython line above)", f"{core} B", "<= 6 KB")
    line(
        "  RAM of the issue's Thermometer device, end to end (as above)",
        f"{thermo} B = {thermo / 1024:.1f} KB",
        "<= 13 KB (a SAMD21's 17 KB less 4 KB for the user's code)",
    )
    program = QEMU_RATE.replace("RAW_WRITES", str(RAW_WRITES)).replace("BURST_N", str(BURST_N))
    out = output(program)
    raw_ms, pub_ms = figures(out, "RATES")
    sent = out.split(b"RATES")[0]
    frame_b = (len(sent) - 3 * RAW_WRITES * 255) / sent.count(b"\x00")  # (HELLO, DESCRIBEs: under 1 %)
    raw_bps = RAW_WRITES * 255 / (raw_ms / 1000)
    capacity = raw_bps / frame_b
    rate = BURST_N / (pub_ms / 1000)
    line("  the UART: raw bytes written by the board (baseline)",
         f"{raw_bps / 1000:.0f} KB/s = {capacity:,.0f} frames/s of {frame_b:.1f} B")
    line(f"  maximum publish rate (burst({BURST_N}) over the stdio link, board's time)",
         f"{rate:,.0f} messages/s = {rate / capacity:.2f}x what the UART carries (best of 3 rounds)")
    print(f"  (QEMU does not pace its UART; a real one at 115200 baud carries {11520 / frame_b:,.0f} such"
          " frames/s, so there the link, not the CPU, would set the rate)")


def main() -> None:
    print(f"ether_lite bench (CPython {sys.version.split()[0]}, cbor2 baseline measured in the same run)")
    wire_bytes()
    codec_speed()
    print("CircuitPython 10.2.1's mpy-cross (the compiler `ether deploy` uses; files start 'C'):")
    mpy_sizes()
    # MicroPython cannot load CircuitPython's .mpy: its figures are from the sources
    micropython_ram([(".py", ROOT)])
    import lite_circuitpython

    lite_circuitpython.report()
    emulated_board()


if __name__ == "__main__":
    main()
