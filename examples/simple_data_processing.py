"""The seed's quick start: a data generator, two processors with different multipliers, and a collector.

Run it with ``python -m examples.run_dual_processors`` (four processes from ``config/dual_processors.yaml``,
then the same classes used directly in one process after shutdown).
"""

import os

from ether_medium import ether_pub, ether_start, ether_sub


# Data Generator - produces initial data
class DataGenerator:
    @ether_start()
    @ether_pub(topic="data")
    def generate_data(self, data: int = 42) -> dict:
        print(f"DataGenerator[PID {os.getpid()}]: Generating data - {data}")
        return {"data": data}


# Data Processor - can run in multiple instances with different multipliers
class DataProcessor:
    def __init__(self, multiplier: int = 2):
        self.multiplier = multiplier

    @ether_sub(topic="data")
    @ether_pub(topic="result")
    def process_data(self, data: int = 0) -> dict:
        print(f"DataProcessor[PID {os.getpid()}]: Processing input data - {data}")
        result = data * self.multiplier
        print(f"DataProcessor[PID {os.getpid()}]: Processed output result - {result}")
        return {"result": result}


# Data Collector - collects and summarizes results
class DataCollector:
    results = []

    @ether_sub(topic="result")
    @ether_pub(topic="summarize")
    def collect_result(self, result: int) -> None:
        self.results.append(result)
        print(f"DataCollector[PID {os.getpid()}]: Collected result - {result}")

    @ether_sub(topic="summarize")
    def summarize(self) -> None:
        mean = sum(self.results) / len(self.results)
        max_val = max(self.results)
        min_val = min(self.results)
        print(
            f"DataCollector[PID {os.getpid()}]: Summarizing results - "
            f"mean: {mean}, max: {max_val}, min: {min_val}"
        )
