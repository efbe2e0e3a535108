"""``digitalio`` of the emulated board: pins keep the level written to them; an input reads its pull
(up: True, else False). A pin in use twice raises ``ValueError`` as on a board."""


class Direction:
    INPUT = "INPUT"
    OUTPUT = "OUTPUT"


class Pull:
    UP = "UP"
    DOWN = "DOWN"


class DriveMode:
    PUSH_PULL = "PUSH_PULL"
    OPEN_DRAIN = "OPEN_DRAIN"


_in_use = set()


class DigitalInOut:
    def __init__(self, pin):
        if pin.name in _in_use:
            raise ValueError(pin.name + " in use")
        _in_use.add(pin.name)
        self._pin = pin
        self.direction = Direction.INPUT
        self.pull = None
        self.drive_mode = DriveMode.PUSH_PULL
        self._level = False

    def switch_to_output(self, value=False, drive_mode=DriveMode.PUSH_PULL):
        self.direction = Direction.OUTPUT
        self.drive_mode = drive_mode
        self._level = bool(value)

    def switch_to_input(self, pull=None):
        self.direction = Direction.INPUT
        self.pull = pull

    @property
    def value(self):
        if self.direction == Direction.OUTPUT:
            return self._level
        return self.pull == Pull.UP

    @value.setter
    def value(self, level):
        if self.direction != Direction.OUTPUT:
            raise AttributeError("Cannot set value when direction is input.")
        self._level = bool(level)

    def deinit(self):
        _in_use.discard(self._pin.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.deinit()


def _boot():
    _in_use.clear()
