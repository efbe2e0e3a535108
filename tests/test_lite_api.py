"""The public API of ether_lite, pinned, and the issue's example working as written."""

import ether_lite


def test_exported_names() -> None:
    assert sorted(ether_lite.__all__) == ["Node", "__version__", "ether_pub", "ether_sub", "log", "run"]
    for name in ether_lite.__all__:
        assert hasattr(ether_lite, name)


def test_example_class_is_still_a_plain_class() -> None:
    """Decorated methods keep working without a node (the host's transparent fallback)."""
    from ether_lite import ether_pub, ether_sub

    class Thermometer:
        led = None

        @ether_pub(every=1.0)
        def read(self) -> dict[str, float]:
            return {"celsius": 20.0}

        @ether_sub()
        def set_led(self, on: bool) -> None:
            self.led = on

    t = Thermometer()
    assert t.read() == {"celsius": 20.0}
    t.set_led(on=True)
    assert t.led is True
    assert Thermometer.read.__name__ == "read"


def test_the_device_id_comes_from_ether_device_id(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """ETHER_DEVICE_ID (a board's settings.toml, read by os.getenv) names a device; an explicit device_id
    still wins, and without either a desktop device is named after its classes."""
    from ether_lite import Node, ether_pub
    from ether_lite.links.memory import memory_pair

    class Probe:
        @ether_pub()
        def read(self) -> int:
            return 1

    def device_id(**kwargs: str) -> str:
        node = Node(Probe(), memory_pair()[0], **kwargs)
        node.close()
        return str(node.device_id)

    monkeypatch.delenv("ETHER_DEVICE_ID", raising=False)
    assert device_id() == "sim-probe"
    monkeypatch.setenv("ETHER_DEVICE_ID", "thermo-lab2")
    assert device_id() == "thermo-lab2"
    assert device_id(device_id="given") == "given"
