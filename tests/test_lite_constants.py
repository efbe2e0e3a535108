"""ether_lite.protocol is the one definition of the wire constants. The device modules keep private
``const`` copies (free on MicroPython, so a board need not load protocol.py); this checks every one."""

import ast
from pathlib import Path

from ether_lite import protocol, startup

ROOT = Path(__file__).resolve().parent.parent


def _private_consts(path: Path) -> dict[str, int]:
    out = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Call)
            and getattr(node.value.func, "id", "") == "const"
        ):
            out[node.targets[0].id] = ast.literal_eval(node.value.args[0])
    return out


def test_device_constants_match_protocol() -> None:
    checked = 0
    for module in ("node.py", "startup.py", "receive.py", "report.py"):
        for name, value in _private_consts(ROOT / "ether_lite" / module).items():
            public = name.lstrip("_")
            if hasattr(protocol, public):
                theirs = getattr(protocol, public)
                assert theirs == value, f"ether_lite/{module}: {name}={value}, protocol: {public}={theirs}"
                checked += 1
    assert checked >= 27
    assert "".join(protocol.FIELD_TYPES) == startup._TYPE_CODES


def test_device_ref_is_protocol_ref() -> None:
    src = (ROOT / "ether_lite" / "node.py").read_text(encoding="utf-8")
    assert "ep[_ID] | ep[_SEQ] << 5 | (clock.ticks_ms() & 0xFFFF) << 14" in src
    assert protocol.pack_ref(31, 511, 0xFFFF) == 31 | 511 << 5 | 0xFFFF << 14
