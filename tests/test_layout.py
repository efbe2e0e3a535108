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


def test_every_package_is_listed_for_the_wheel() -> None:
    """pyproject.toml names every package (folders without __init__.py too), and ships firmware/ and
    examples/devices/ inside ether_medium, so nothing is missing from an installed wheel."""
    import tomllib

    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = set()
    for top in ("ether_medium", "ether_lite", "hil"):
        for init in (ROOT / top).rglob("*.py"):
            if "__pycache__" not in init.parts:
                found.add(".".join(init.parent.relative_to(ROOT).parts))
    mapped = setuptools["package-dir"]
    assert mapped == {"ether_medium._firmware": "firmware", "ether_medium._devices": "examples/devices"}
    assert set(setuptools["packages"]) == found | set(mapped)


def test_version_names_package_protocol_and_ether_lite(capsys: object) -> None:
    import ether_lite
    from ether_lite import protocol
    from ether_medium.cli import main
    from ether_medium.version import __version__

    assert main(["--version"]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    lite = ether_lite.__version__
    assert out == f"ether-medium {__version__} (protocol {protocol.VERSION}, ether_lite {lite})\n"
