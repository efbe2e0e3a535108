"""``board`` of the emulated board: the pins of a QT Py / Feather M0 style SAMD21 board."""

from microcontroller import Pin

board_id = "ether_circuitpython_unix"
LED = Pin("LED")
A0, A1, A2, A3 = Pin("A0"), Pin("A1"), Pin("A2"), Pin("A3")
D0, D1, D2, D3 = Pin("D0"), Pin("D1"), Pin("D2"), Pin("D3")
TX, RX, SDA, SCL = D0, D1, Pin("SDA"), Pin("SCL")
