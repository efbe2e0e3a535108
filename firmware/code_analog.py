# code.py: one analog input (A0) published twice a second as raw 16-bit value and volts.
# Keep the input between 0 V and the board's 3.3 V reference.
from analog import AnalogInput

from ether_lite import run

run(AnalogInput(), link="usb_cdc")
