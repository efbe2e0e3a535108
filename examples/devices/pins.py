"""Pick a board pin by the first name this board has, so one device file serves many boards
(and the simulated board, which has the Pico's, the QT Py's and the Feathers' names)."""

import board


def pick(*names):
    """The first of ``names`` that ``board`` has, e.g. ``pick("D5", "GP15")``."""
    for name in names:
        pin = getattr(board, name, None)
        if pin is not None:
            return pin
    raise ValueError("this board (%s) has none of the pins %s: pass the pin you wired, e.g. pin=board.D2"  # noqa: UP031
                     % (getattr(board, "board_id", "?"), ", ".join(names)))
