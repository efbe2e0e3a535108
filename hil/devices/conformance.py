"""The conformance device: a thermometer with an LED, what the HIL suite expects a device to offer.

Runs unchanged under CPython, MicroPython and CircuitPython (only ether_lite and the standard modules
every port has). On a board, save it as ``code.py`` next to ``lib/ether_lite``; it serves itself over
``usb_cdc`` when run as the main program.

Endpoints (topic names are the ones the suite looks for):
- ``Thermometer.read`` publishes ``{"celsius": float}`` every 0.05 s (20 Hz, the declared rate checked);
- ``Thermometer.set_led(on)`` switches the LED and acknowledges by publishing ``Thermometer.led``
  ``{"on": bool, "count": deliveries so far}`` at once (how the suite sees a delivery *acted on*);
- ``Thermometer.burst(n)`` publishes ``Thermometer.sample`` ``{"i": 0..n-1}`` as fast as the link takes
  (the maximum publish rate);
- ``Thermometer.mark(i)`` sets bit ``i`` (0..62) and publishes ``Thermometer.marks``
  ``{"bits": int, "calls": int}``: which deliveries were acted on, and how often a handler ran;
- ``Thermometer.echo(text)`` publishes the text back as ``Thermometer.echoed`` (frames near the largest);
- ``Thermometer.clear_marks()`` empties that record (and publishes it);
- ``Thermometer.set_wave(samples)`` takes an int16 array (an ``array.array('h')`` on the device) and
  publishes it back as ``Thermometer.wave`` ``{"samples": int16[]}`` (arrays both ways, PROTOCOL.md "Arrays");
- ``Thermometer.reset()`` resets the device once the delivery is acknowledged (a board reboots at its next
  reading, so that the host never retransmits the reset to the rebooted board; a simulated device restarts
  in place).
"""

import array

from ether_lite import ether_pub, ether_sub

try:
    import microcontroller

    def _cpu_celsius():
        return microcontroller.cpu.temperature

except (ImportError, AttributeError):
    microcontroller = None

    def _cpu_celsius():
        return None


READ_EVERY_S = 0.05


class Thermometer:
    def __init__(self):
        self.on = False
        self.count = 0
        self.reset_requested = False
        self.bits = 0
        self.calls = 0
        self.text = ""
        self.samples = array.array("h")
        self._t = 21.0

    @ether_pub(every=READ_EVERY_S, fields=[("celsius", "f")])
    def read(self):
        if self.reset_requested:  # the ACK of reset() is out: reboot a board (simulated ones never get here)
            _reset_board()
        c = _cpu_celsius()
        if c is None:
            self._t = 21.0 + ((self._t * 7.31) % 1.0) * 0.1  # a little deterministic wobble
            c = self._t
        return {"celsius": c}

    @ether_pub(fields=[("on", "b"), ("count", "i")])
    def led(self):
        return {"on": self.on, "count": self.count}

    @ether_pub(fields=[("i", "i")])
    def sample(self, i=0):
        return {"i": i}

    @ether_pub(fields=[("bits", "i"), ("calls", "i")])
    def marks(self):
        return {"bits": self.bits, "calls": self.calls}

    @ether_sub(fields=[("i", "i")])
    def mark(self, i):
        self.bits |= 1 << i
        self.calls += 1
        self.marks()

    @ether_pub(fields=[("text", "s")])
    def echoed(self):
        return {"text": self.text}

    @ether_sub(fields=[("text", "s")])
    def echo(self, text):
        self.text = text
        self.echoed()

    @ether_pub(fields=[("samples", "[h")])
    def wave(self):
        return {"samples": self.samples}

    @ether_sub(fields=[("samples", "[h")])
    def set_wave(self, samples):
        self.samples = samples
        self.wave()

    @ether_sub(fields=[])
    def clear_marks(self):
        self.bits = 0
        self.calls = 0
        self.marks()

    @ether_sub(fields=[("on", "b")])
    def set_led(self, on):
        self.on = bool(on)
        self.count += 1
        self.led()  # calling a publishing method publishes: the host sees the delivery acted on

    @ether_sub(fields=[("n", "i")])
    def burst(self, n):
        for i in range(n):
            self.sample(i)

    @ether_sub(fields=[])
    def reset(self):
        self.reset_requested = True  # a simulated device's runner restarts it in place; a board: read()


def _reset_board():
    if microcontroller is not None:
        microcontroller.reset()
    try:
        import machine

        machine.reset()
    except (ImportError, AttributeError):
        pass


if __name__ == "__main__":
    from ether_lite import run

    run(Thermometer(), link="usb_cdc")
