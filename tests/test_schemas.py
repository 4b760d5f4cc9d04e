"""The committed JSON Schemas are what the models generate (run `make schemas` to refresh)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.render.schemas import SCHEMAS, schema_text

SCHEMA_DIR = Path(__file__).parents[1] / "schemas"


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_committed_schema_matches_model(name: str) -> None:
    committed = (SCHEMA_DIR / name).read_text(encoding="utf-8")
    assert committed == schema_text(SCHEMAS[name]), f"schemas/{name} is stale: run `make schemas`"


def test_example_specs_carry_the_schema_modeline() -> None:
    specs = sorted((SCHEMA_DIR.parent / "specs").glob("*.yaml"))
    assert specs
    for spec in specs:
        assert spec.read_text().startswith(
            "# yaml-language-server: $schema=../schemas/jobrun.v1.json"
        )
