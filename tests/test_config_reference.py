"""docs/config-reference.md is rendered from the config models, so it cannot drift from what the loader
accepts."""

from __future__ import annotations

from pathlib import Path

from ether_medium.config.reference import SECTIONS, render

DOC = Path(__file__).resolve().parent.parent / "docs" / "config-reference.md"


def test_docs_config_md_is_up_to_date() -> None:
    regenerate = ".venv/bin/python -m ether_medium.config.reference > docs/config-reference.md"
    assert DOC.read_text() == render(), f"docs/config-reference.md is out of date: run `{regenerate}`"


def test_every_section_model_is_in_the_reference() -> None:
    documented = {model for _, model in SECTIONS}
    from ether_medium.config.model import _SECTIONS

    models = {model for _, model in _SECTIONS}
    assert models <= documented, models - documented


def test_every_key_has_a_description() -> None:
    for path, model in SECTIONS:
        for name, field in model.model_fields.items():
            assert field.exclude or field.description, f"{path}.{name} has no description"
