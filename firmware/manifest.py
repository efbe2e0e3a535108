# A MicroPython manifest (docs.micropython.org: "MicroPython manifest files") that freezes ether_lite's
# board modules, and your device module, into MicroPython firmware. Frozen bytecode stays in flash: the
# core then costs about 2.5 KB of RAM instead of about 10 KB as .mpy files on a filesystem.
#
# From your board's manifest (firmware/README.md, "Frozen into MicroPython firmware"):
#
#     include("$(PORT_DIR)/boards/manifest.py")       # what the port freezes anyway
#     include("/path/to/ether/firmware/manifest.py", device="/path/to/thermo.py")
#
# or alone: make BOARD=... FROZEN_MANIFEST=/path/to/ether/firmware/manifest.py (ether_lite only).
#
# device= is one path or a list of paths (absolute, or with the manifest tool's variables such as
# "$(BOARD_DIR)/thermo.py"); each file is frozen as a top-level module (thermo.py: `import thermo`).
# Of ether_lite, exactly what `ether deploy` copies onto a board is frozen (the rule in
# ether_medium/deploy/board_files.py: the import closure of ether_lite/__init__.py, less the desktop-only
# parts such as the simulator, sim/), so a frozen board and a deployed one run the same modules.
#
# The manifest tool runs this file with the current directory set to the file's own (firmware/).
import importlib.util
import os

options.defaults(device=())  # noqa: F821 (options, package and module come from MicroPython's manifest tool)

_repo = os.path.dirname(os.getcwd())
_rule = os.path.join(_repo, "ether_medium", "deploy", "board_files.py")  # standard library only
_spec = importlib.util.spec_from_file_location("_ether_board_files", _rule)
_board = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_board)
_lite = os.path.join(_repo, "ether_lite")
package(  # noqa: F821
    "ether_lite",
    files=[os.path.relpath(str(p), _lite) for p in _board.board_files(_board.Path(_lite))],
    base_path=_repo,
)

_devices = options.device  # noqa: F821
for _d in [_devices] if isinstance(_devices, str) else _devices:  # absolute, or "$(BOARD_DIR)/thermo.py"
    _dir, _name = os.path.split(_d)
    module(_name, base_path=_dir or ".")  # noqa: F821
