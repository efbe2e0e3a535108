"""The host side of the demo rig (``make demo``): a logger and a heater controller, plain Python classes
made into fabric instances by examples/config/demo_rig.yaml."""
