"""Putting ether_lite and a device's code onto a board's CIRCUITPY drive (``ether deploy``)."""
