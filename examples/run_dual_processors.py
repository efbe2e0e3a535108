"""The seed's quick-start run: the pipeline on the fabric, then the same classes without Ether.

``python -m examples.run_dual_processors`` (from the repository root).
"""

import os
import time

from ether_medium import ether
from examples.simple_data_processing import DataCollector, DataGenerator, DataProcessor


# Get path to config file
def _get_config_path(config_name: str) -> str:
    return os.path.join(os.path.dirname(__file__), "config", f"{config_name}.yaml")


def main() -> None:
    # Tap in to the ether with config
    config_path = _get_config_path("dual_processors")
    ether.tap(config=config_path)

    # Start the distributed system
    ether.start()
    time.sleep(1.002)  # Let the system run for a bit

    # Shut down the distributed system
    ether.shutdown()

    # After shutdown, you can still use components normally in a single process
    generator = DataGenerator()
    processor2x = DataProcessor(multiplier=2)
    processor4x = DataProcessor(multiplier=4)
    collector = DataCollector()

    # Manual usage example
    generated_data = generator.generate_data(data=4242)
    processed2x_result = processor2x.process_data(**generated_data)
    processed4x_result = processor4x.process_data(**generated_data)
    collector.collect_result(**processed2x_result)
    collector.collect_result(**processed4x_result)
    collector.summarize()


if __name__ == "__main__":
    main()
