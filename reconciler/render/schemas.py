"""JSON Schemas of every file format, generated from the models (``reconciler schema``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from reconciler.engine.actions import Plan
from reconciler.providers.registry import provider_types
from reconciler.spec.models import Config, JobRun
from reconciler.state.model import Lockfile


def _of(model: type[BaseModel]) -> Callable[[], dict[str, Any]]:
    return lambda: model.model_json_schema(by_alias=True)


def _jobrun() -> dict[str, Any]:
    """A spec, with ``spec.job`` as each registered provider type's job model: an editor then
    shows, and checks as it can, the bounds ``validate`` enforces (ids, durations, lengths).
    Which one applies is decided by the instance's type in reconciler.yaml, so the schema
    takes any of them."""
    schema = JobRun.model_json_schema(by_alias=True)
    defs: dict[str, Any] = schema["$defs"]
    choices = []
    for name, kind in sorted(provider_types().items()):
        job = kind.job_model.model_json_schema(by_alias=True)
        for key, value in {**job.pop("$defs", {}), kind.job_model.__name__: job}.items():
            assert defs.setdefault(key, value) == value, f"two schemas named {key}"
        choices.append({"$ref": f"#/$defs/{kind.job_model.__name__}", "title": f"{name} job"})
    job_field = defs["RunSpec"]["properties"]["job"]
    defs["RunSpec"]["properties"]["job"] = {
        "description": f"{job_field['description']} One of the shapes below, by the type of "
        "the provider instance (reconciler.yaml).",
        "title": job_field["title"],
        "anyOf": choices,
    }
    return schema


SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "jobrun.v1.json": _jobrun,
    "config.v1.json": _of(Config),
    "lockfile.v1.json": _of(Lockfile),
    "plan.v1.json": _of(Plan),
}


def schema_text(name: str) -> str:
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **SCHEMAS[name](),
    }
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SCHEMAS:
        path = directory / name
        path.write_text(schema_text(name), encoding="utf-8")
        written.append(path)
    return written
