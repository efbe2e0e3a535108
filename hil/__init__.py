"""Hardware-in-the-loop harness: pytest plugin, device conformance suite, link fault injector, fuzzing.

See hil/README.md for how to run the suite against a real board.
"""
