"""The repository's shape: the promises of DESIGN.md that a file listing can check."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_top_level_layout() -> None:
    top = ("pyproject.toml", "README.md", "ether_medium", "ether_lite", "firmware", "hil", "examples")
    top = (*top, "tests")
    for name in top:
        assert (ROOT / name).exists(), f"{name} is missing at the top level"


def test_host_package_is_typed() -> None:
    assert (ROOT / "ether_medium" / "py.typed").exists()
