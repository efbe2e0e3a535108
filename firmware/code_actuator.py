# code.py: a relay (or LED) the host switches: Heater.set_power {"on": true} or {"power": 0.3}, with
# the relay state published every second (Heater.state). The relay's input goes to pin D5 (GP15 on a
# Pico); to try it without wiring, drive the board LED instead: Heater(pin=board.LED).
# Use a relay module with its own driver transistor: a GPIO pin cannot drive a relay coil directly.
from heater import Heater

from ether_lite import run

run(Heater(), link="usb_cdc")
