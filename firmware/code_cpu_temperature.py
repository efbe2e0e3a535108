# code.py: the board's own temperature sensor (microcontroller.cpu.temperature) every second,
# plus the board LED as a subscriber (Thermometer.set_led). Boards: any CircuitPython board whose
# chip has a temperature sensor (RP2040/RP2350, SAMD21/SAMD51, ESP32-S2/S3, nRF52840).
# Needs boot.py (USB data channel) and lib/ether_lite/; `ether deploy` copies all three and thermo.py.
from thermo import Thermometer

from ether_lite import run

run(Thermometer(), link="usb_cdc")
