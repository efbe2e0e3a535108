"""ether_lite's device-side checks on CPython (the same bodies run under MicroPython in
tests/test_lite_micropython.py)."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "micropython"))

import lite_checks  # noqa: E402

lite_checks.VECTORS = str(ROOT / "tests" / "vectors")
lite_checks.PACKAGE = str(ROOT / "ether_lite")


@pytest.mark.parametrize("name", [name for name, _ in lite_checks.all_checks()])
def test_device_check(name: str) -> None:
    dict(lite_checks.all_checks())[name]()


def test_appendix_a_rows_map_to_python_values() -> None:
    """Which Appendix A rows decode to what (every row decodes on CPython, which has long ints)."""
    mapping = dict(lite_checks.appendix_a_mapping())
    assert len(mapping) == 82
    kinds = {}
    for h, t in mapping.items():
        kinds.setdefault(t, []).append(h)
    assert set(kinds) == {
        "int",
        "float",
        "bytes",
        "str",
        "list",
        "dict",
        "bool",
        "NoneType",
        "_Undefined",
        "CBORSimpleValue",
        "CBORTag",
    }, kinds
    assert mapping["c249010000000000000000"] == "int"  # bignum tag 2 -> int
    assert mapping["c074323031332d30332d32315432303a30343a30305a"] == "CBORTag"  # date/time stays a tag
    assert mapping["5f42010243030405ff"] == "bytes"  # indefinite byte string joined
