"""Heater: a relay (or any digital output) switched by the host, with its state published every second.

``set_power(on=True)`` switches fully on or off; ``set_power(power=0.3)`` runs the relay
time-proportioned: on for 30 % of each 10 s window (a relay cannot dim, so it is switched slowly, as
lab heaters are). On the simulated board the relay pin ``D5`` drives the simulated heater, which warms
the simulated thermometer.
"""

import digitalio
from pins import pick

from ether_lite import clock, ether_pub, ether_sub

WINDOW_MS = 10000  # ether_lite.clock wraps like a board's tick counter; time.monotonic() loses ms after hours


class Heater:
    def __init__(self, pin=None):
        self.relay = digitalio.DigitalInOut(pin if pin is not None else pick("D5", "GP15", "A3"))
        self.relay.switch_to_output(value=False)
        self.power = 0.0
        self._window_start = clock.ticks_ms()

    @ether_sub()
    def set_power(self, on=None, power=None):
        """Topic ``Heater.set_power``: ``{"on": bool}`` or ``{"power": 0.0..1.0}``."""
        if power is None:
            power = 1.0 if on else 0.0
        power = float(power)
        if not 0.0 <= power <= 1.0:
            raise ValueError("Heater.set_power: power must be 0.0..1.0, got %r" % (power,))  # noqa: UP031
        self.power = power
        self._window_start = clock.ticks_ms()
        self._apply()

    def _apply(self):
        if self.power <= 0.0 or self.power >= 1.0:
            self.relay.value = self.power >= 1.0
            return
        into_window_ms = clock.ticks_diff(clock.ticks_ms(), self._window_start)
        if into_window_ms >= WINDOW_MS:  # move the window's start along so the difference never wraps
            whole_windows_ms = into_window_ms - into_window_ms % WINDOW_MS
            self._window_start = clock.ticks_add(self._window_start, whole_windows_ms)
            into_window_ms %= WINDOW_MS
        self.relay.value = into_window_ms < self.power * WINDOW_MS

    @ether_pub(every=1.0)
    def state(self):
        """Topic ``Heater.state``: whether the relay is on now, and the power asked for."""
        self._apply()
        return {"on": self.relay.value, "power": self.power}
