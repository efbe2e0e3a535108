"""Thermometer: the board's own temperature sensor, published every second; the board LED on request.

The same file runs on a board (``ether deploy --code cpu_temperature``) and on the desktop
(``ether sim thermo:Thermometer``), where ``microcontroller.cpu.temperature`` reads the simulated
thermometer and ``board.LED`` drives the simulated LED.
"""

import board
import digitalio
import microcontroller

from ether_lite import ether_pub, ether_sub


class Thermometer:
    def __init__(self, led_pin=None):
        if led_pin is None:
            led_pin = getattr(board, "LED", None)  # QT Py boards have only a NeoPixel: no LED then
        self.led = None
        if led_pin is not None:
            self.led = digitalio.DigitalInOut(led_pin)
            self.led.switch_to_output(value=False)

    @ether_pub(every=1.0)
    def read(self):
        """Topic ``Thermometer.read``: the chip's temperature in °C (nothing on chips without a sensor)."""
        celsius = microcontroller.cpu.temperature
        if celsius is None:
            return None  # ether_lite publishes nothing for None
        return {"celsius": celsius}

    @ether_sub()
    def set_led(self, on):
        """Topic ``Thermometer.set_led``: ``{"on": true}`` lights the board LED."""
        if self.led is not None:
            self.led.value = bool(on)
