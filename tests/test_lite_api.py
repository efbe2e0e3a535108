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
