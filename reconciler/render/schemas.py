"""JSON Schemas of every file format, generated from the models (``reconciler schema``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from reconciler.engine.actions import Plan
from reconciler.spec.models import Config, JobRun
from reconciler.state.model import Lockfile

SCHEMAS: dict[str, type[BaseModel]] = {
    "jobrun.v1.json": JobRun,
    "config.v1.json": Config,
    "lockfile.v1.json": Lockfile,
    "plan.v1.json": Plan,
}


def schema_text(model: type[BaseModel]) -> str:
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **model.model_json_schema(by_alias=True),
    }
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in SCHEMAS.items():
        path = directory / name
        path.write_text(schema_text(model), encoding="utf-8")
        written.append(path)
    return written
