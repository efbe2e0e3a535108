"""``make demo``: for now the seed's quick start (examples/run_dual_processors.py)."""

from examples.run_dual_processors import main

if __name__ == "__main__":
    main()
