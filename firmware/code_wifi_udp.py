# code.py for Wi-Fi boards (Pico W, Feather ESP32-S3, QT Py ESP32-S2/S3): the chip temperature over
# UDP instead of USB. Settings come from settings.toml on the CIRCUITPY drive (see
# settings.toml.example): CIRCUITPY_WIFI_SSID, CIRCUITPY_WIFI_PASSWORD, ETHER_HOST, ETHER_PORT.
import os
import time

import wifi
from thermo import Thermometer

from ether_lite import run

ssid = os.getenv("CIRCUITPY_WIFI_SSID")
password = os.getenv("CIRCUITPY_WIFI_PASSWORD")
host = os.getenv("ETHER_HOST")
port = os.getenv("ETHER_PORT") or 5005
if not ssid or not host:
    raise RuntimeError("settings.toml needs CIRCUITPY_WIFI_SSID and ETHER_HOST (the computer running Ether); "
                       "see firmware/settings.toml.example")

while not wifi.radio.connected:  # CircuitPython joins by itself when settings.toml names the network
    try:
        wifi.radio.connect(ssid, password)
    except ConnectionError as exc:
        print("Wi-Fi: cannot join", ssid, "-", exc, "- retrying in 5 s")
        time.sleep(5)
print("Wi-Fi: joined", ssid, "as", wifi.radio.ipv4_address, "- sending to", host, port)

run(Thermometer(), link="udp://%s:%d" % (host, int(port)))
