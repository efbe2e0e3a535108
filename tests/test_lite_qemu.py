"""ether_lite frozen into MicroPython firmware on an emulated Cortex-M3 (QEMU mps2-an385): the REPL's own
line as the link (``link="stdio"``, ether_lite/links/stdio.py).

While the link is open, print() travels as LOG frames; once run() returns, print() writes on the line
again. (Ctrl-C cannot be checked here: MicroPython's QEMU port never interrupts running code, whatever
``micropython.kbd_intr`` says; on boards whose UART or USB driver does, the link turns it off while it runs.)
The HIL suite (hil/, device ``qemu``) runs the conformance checks on the same board.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from hil.bridge_harness import HilBridge
from hil.qemu_board import QemuBoard, read_until
from hil.qemu_firmware import firmware_or_skip
from hil.targets import open_tty

# A device defined at the REPL (not frozen): a subscriber that prints, one that ends run(). After run()
# it waits for one byte, then prints.
PROGRAM = """\
import sys
from ether_lite import ether_sub, run
class Talker:
    done = False
    @ether_sub(fields=[("text", "s")])
    def say(self, text):
        print("said:", text, 3)
    @ether_sub(fields=[])
    def stop(self):
        self.done = True
t = Talker()
run(t, link="stdio", device_id="talker", until=lambda: t.done)
sys.stdin.buffer.read(1)
print("print is back")
"""


@pytest.fixture
def board() -> Iterator[QemuBoard]:
    b = QemuBoard(firmware_or_skip(), PROGRAM)
    try:
        yield b
    finally:
        b.stop()


def test_print_is_a_log_line_while_the_link_runs_and_printed_text_after(board: QemuBoard) -> None:
    path = board.boot()
    bridge = HilBridge(f"serial://{path}", name="talker")
    fd = -1
    try:
        board.handed_over()
        bridge.wait_attached(15.0)
        # a 0x03 (Ctrl-C) inside the frame: data while the link runs, not a KeyboardInterrupt
        d = bridge.deliver("Talker.say", {"text": "hello \x03 there"})
        assert d.error is None, d.error
        bridge.run_until(lambda: any("said:" in t for _, t in bridge.sink.logs), 5.0, "the printed line")
        assert (20, "said: hello \x03 there 3") in bridge.sink.logs
        assert bridge.mgr.counters.as_dict()["crc_errors"] == 0
        assert bridge.deliver("Talker.stop", {}).error is None
        fd = open_tty(path)
    finally:
        bridge.close()
    try:
        os.write(fd, b"x")  # run() has returned: the program reads a byte, then prints
        read_until(fd, b"print is back\r\n", time.monotonic() + 10.0, "the text printed after run()", 4096)
    finally:
        os.close(fd)
