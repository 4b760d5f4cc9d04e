"""The committed JSON Schemas are what the models generate (run `make schemas` to refresh)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from reconciler.render.schemas import SCHEMAS, schema_text

SCHEMA_DIR = Path(__file__).parents[1] / "schemas"


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_committed_schema_matches_model(name: str) -> None:
    committed = (SCHEMA_DIR / name).read_text(encoding="utf-8")
    assert committed == schema_text(name), f"schemas/{name} is stale: run `make schemas`"


def test_example_specs_carry_the_schema_modeline() -> None:
    specs = sorted((SCHEMA_DIR.parent / "specs").glob("*.yaml"))
    assert specs
    for spec in specs:
        assert spec.read_text().startswith(
            "# yaml-language-server: $schema=../schemas/jobrun.v1.json"
        )


def test_the_example_specs_are_valid_by_the_spec_schema_and_its_job_bounds_hold() -> None:
    """What an editor checks with the committed schema: the examples pass; a job value a
    provider cannot take (an id beyond int64) does not."""
    schema = json.loads((SCHEMA_DIR / "jobrun.v1.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    documents = [
        document
        for spec in sorted((SCHEMA_DIR.parent / "specs").glob("*.yaml"))
        for document in YAML(typ="safe").load_all(spec.read_text())
    ]
    assert len(documents) >= 4
    for document in documents:
        assert list(validator.iter_errors(document)) == [], document["metadata"]["name"]
    xplenty = next(d for d in documents if "package_id" in d["spec"]["job"])
    xplenty["spec"]["job"]["package_id"] = 2**63
    assert list(validator.iter_errors(xplenty))
