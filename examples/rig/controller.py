"""An experiment controller: bang-bang control of the heater board around a set point, with hysteresis.

Below ``set_point_c - hysteresis_c`` it switches the heater on, above ``set_point_c + hysteresis_c`` off.
Each command is sent with ``ether.get`` on the heater board's subscriber topic ``Heater.set_power``: the
bridge delivers it to the board and answers once the board acknowledged it (or with an error), so the
controller knows the heater really switched.
"""

import logging

from ether_medium import ether, ether_get, ether_start, ether_sub
from ether_medium.errors import RemoteError

log = logging.getLogger(__name__)


class HeaterController:
    def __init__(self, set_point_c: float = 25.0, hysteresis_c: float = 0.3) -> None:
        self.set_point_c = set_point_c
        self.hysteresis_c = hysteresis_c
        self.running = False  # readings before ether.start() are not acted on
        self.heater_on: bool | None = None  # unknown until the first command is acknowledged
        self.switches = 0
        self.acked = 0
        self.failed = 0
        self.last_rtt_s: float | None = None

    @ether_start()
    def start(self) -> None:
        self.running = True

    @ether_sub(topic="Thermometer.read")
    def on_reading(self, celsius: float) -> None:
        if not self.running:
            return
        if celsius < self.set_point_c - self.hysteresis_c:
            want = True
        elif celsius > self.set_point_c + self.hysteresis_c:
            want = False
        else:
            return  # inside the band: leave the heater as it is
        if want != self.heater_on:
            self.switch(want, celsius)

    def switch(self, on: bool, celsius: float) -> None:
        try:
            # power is left to the board's default (None: full on or off); the DESCRIBE carries it
            answer = ether.get("Heater.set_power", timeout=2.0, on=on)
        except (TimeoutError, RemoteError) as exc:
            self.failed += 1
            log.warning("heater %s at %.2f degC failed: %s", "on" if on else "off", celsius, exc)
            return  # heater_on unchanged: the next reading tries again
        if on != bool(self.heater_on):
            self.switches += 1
        self.heater_on = on
        self.acked += 1
        self.last_rtt_s = answer.get("rtt_s")
        log.info("heater %s at %.2f degC (acknowledged in %.1f ms)", "on" if on else "off", celsius,
                 1000 * (self.last_rtt_s or 0.0))

    @ether_get()
    def status(self) -> dict:
        """``ether.get("HeaterController.status")``: set point, heater state, commands so far."""
        return {"set_point_c": self.set_point_c, "heater_on": self.heater_on, "switches": self.switches,
                "acked": self.acked, "failed": self.failed, "last_rtt_s": self.last_rtt_s}
