# boot.py for Ether: runs once at power-up / hard reset, before code.py.
# Turns on CircuitPython's second USB serial channel (usb_cdc.data) next to the REPL console:
# ether_lite speaks its protocol on the data channel, so print() and the REPL stay usable.
# Takes effect only after a hard reset (RESET button, or unplug and plug back in).
import usb_cdc

usb_cdc.enable(console=True, data=True)
