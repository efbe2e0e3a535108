"""The seed's real-world example, runnable: a temperature sensor (with a simulated thermometer standing in
for the hardware), a data logger that stores readings, and an experiment controller with a safety limit.

Run it with ``python -m examples.lab_equipment`` (config: ``config/lab_equipment.yaml``). It shows the
lifecycle decorators (the sensor polls in a thread started by ``ether_start`` and stopped by
``ether_cleanup``; the logger's ``ether_save`` summary is published on ``Ether.saved``) and request/reply
(``ether.get("DataLogger.latest")``).
"""

import logging
import os
import random
import threading
import time

from ether_medium import ether, ether_cleanup, ether_get, ether_pub, ether_save, ether_start, ether_sub

log = logging.getLogger(__name__)


class SimulatedThermometer:
    """Stands in for the hardware: a temperature that drifts upwards with a little noise."""

    def __init__(self, start_c: float = 20.0, drift_c_per_reading: float = 0.1, noise_c: float = 0.02,
                 seed: int = 1):
        self._temp_c = start_c
        self._drift = drift_c_per_reading
        self._noise = noise_c
        self._rng = random.Random(seed)

    def get_temperature(self) -> float:
        self._temp_c += self._drift
        return round(self._temp_c + self._rng.uniform(-self._noise, self._noise), 3)


class TemperatureSensor:
    def __init__(self, interval_s: float = 0.02, start_c: float = 20.0, drift_c_per_reading: float = 0.1):
        self._hardware = SimulatedThermometer(start_c, drift_c_per_reading)
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = None

    @ether_pub(topic="DataLogger.log_temperature")
    def read_temperature(self) -> dict:
        temp = self._hardware.get_temperature()
        return {"temperature": temp, "timestamp": time.time()}

    @ether_start()
    def start_polling(self) -> None:
        print(f"TemperatureSensor[PID {os.getpid()}]: polling every {self._interval_s} s")
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.read_temperature()

    @ether_cleanup()
    def stop_polling(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        print(f"TemperatureSensor[PID {os.getpid()}]: stopped polling")


class DataLogger:
    def __init__(self):
        self._db = []  # stands in for a database table

    @ether_sub()
    @ether_pub(topic="ExperimentController.check_temperature")
    def log_temperature(self, temperature: float, timestamp: float) -> dict:
        self._db.append((temperature, timestamp))
        return {"temperature": temperature, "timestamp": timestamp}

    @ether_get()
    def latest(self) -> dict:
        temperature, timestamp = self._db[-1] if self._db else (None, None)
        return {"temperature": temperature, "timestamp": timestamp, "count": len(self._db)}

    @ether_save()
    def save(self) -> dict:
        temps = [t for t, _ in self._db]
        summary = {"readings": len(temps), "max_c": max(temps, default=None)}
        print(f"DataLogger[PID {os.getpid()}]: saved {len(temps)} readings")
        return summary


class ExperimentController:
    def __init__(self, max_temp: float = 21.0):
        self.max_temp = max_temp
        self.tripped = False

    @ether_sub()
    def check_temperature(self, temperature: float, timestamp: float):
        if temperature > self.max_temp:
            self._safety_shutdown(temperature)

    def _safety_shutdown(self, temperature: float) -> None:
        if not self.tripped:
            self.tripped = True
            print(f"ExperimentController[PID {os.getpid()}]: SAFETY SHUTDOWN at {temperature} C "
                  f"(limit {self.max_temp} C)")
            log.warning("temperature %.2f C above the limit %.2f C: heater off", temperature, self.max_temp)


def _config_path() -> str:
    return os.path.join(os.path.dirname(__file__), "config", "lab_equipment.yaml")


def main() -> None:
    ether.tap(config=_config_path())
    ether.start()
    time.sleep(1.0)
    latest = ether.get("DataLogger.latest", timeout=10.0)  # answered in ms; 10 s bounds a hang on a busy PC
    print(f"latest reading: {latest['count']} readings so far, last {latest['temperature']} C")
    ether.shutdown()


if __name__ == "__main__":
    main()
