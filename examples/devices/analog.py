"""AnalogInput: one ADC pin, published twice a second as the raw 16-bit value and volts.

On the simulated board ``A0`` carries a 1.65 V ± 1 V sine with a 10 s period.
"""

import analogio
import board

from ether_lite import ether_pub


class AnalogInput:
    def __init__(self, pin=None):
        self.adc = analogio.AnalogIn(pin if pin is not None else board.A0)

    @ether_pub(every=0.5)
    def read(self):
        """Topic ``AnalogInput.read``: ``raw`` is 0..65535 on every board; ``volts`` uses the reference."""
        raw = self.adc.value
        return {"raw": raw, "volts": raw * self.adc.reference_voltage / 65535}
