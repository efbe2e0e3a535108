"""Simulated ``wifi`` (the part of CircuitPython's API that Wi-Fi device code uses to join a network).

The desktop is always "on the network": ``radio.connect()`` only checks its arguments as the board does
and marks the radio connected. Sockets come from CPython (ether_lite's UDP link falls back to ``socket``
because the simulator has no ``socketpool``). Settings are read with ``os.getenv``, which on the desktop
reads environment variables:
``CIRCUITPY_WIFI_SSID=lab ETHER_HOST=127.0.0.1 ether sim firmware/code_wifi_udp.py --link udp://...``.
"""


class Radio:
    def __init__(self) -> None:
        self.enabled = True
        self.hostname = "ether-sim"
        self.mac_address = b"\x02\x00\x00\x00\x00\x01"
        self.connected = False
        self.ipv4_address: str | None = None
        self.ssid: str | bytes | None = None

    def connect(self, ssid: str | bytes, password: str | bytes = b"", *, channel: int = 0,
                bssid: bytes | None = None, timeout: float | None = None) -> None:
        if not ssid:
            raise ValueError("ssid must not be empty")
        if password and not 8 <= len(password) <= 64:
            raise ValueError("Invalid length password")  # CircuitPython's message
        self.ssid = ssid
        self.connected = True
        self.ipv4_address = "127.0.0.1"

    def start_station(self) -> None:
        self.enabled = True

    def stop_station(self) -> None:
        self.connected = False


radio = Radio()
