"""Ether with classes it cannot touch: these three classes carry no Ether decorator at all; the
``registry:`` section of ``config/external_class_integration.yaml`` adds pub/sub to them.

Run it with ``python -m examples.external_class_integration``.
"""

import os
import time

from ether_medium import ether


class DataGenerator:
    """A "third-party" generator: publishes when asked on its default topic."""

    def __init__(self, process_id: int = 0):
        self.process_id = process_id

    def generate_data(self, count: int = 3) -> dict:
        print(f"DataGenerator[PID {os.getpid()}]: Generating data - {count}")
        return {"data": count, "process_id": self.process_id}


class DataProcessor:
    def __init__(self, multiplier: int = 2):
        self.multiplier = multiplier

    def process_data(self, data: int, process_id: int = 0) -> dict:
        result = data * self.multiplier
        print(f"DataProcessor[PID {os.getpid()}]: Processed {data} from generator {process_id} -> {result}")
        return {"result": result}


class DataCollector:
    def __init__(self):
        self.results = []

    def collect_result(self, result: int) -> None:
        self.results.append(result)
        print(f"DataCollector[PID {os.getpid()}]: Collected result - {result} (all: {self.results})")


def _config_path() -> str:
    return os.path.join(os.path.dirname(__file__), "config", "external_class_integration.yaml")


def main() -> None:
    ether.tap(config=_config_path())
    ether.start()
    ether.publish("DataGenerator.generate_data", {"count": 7})  # the generator's ether_sub: {} topic
    time.sleep(0.5)
    ether.shutdown()


if __name__ == "__main__":
    main()
