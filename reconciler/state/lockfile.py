"""``reconciler.lock``: what reconciler started, per spec, committed beside the specs.

Written atomically (``state.files.write_atomic``) with sorted keys so git diffs stay small.
Read through the model in strict mode; only a file it refuses is checked with jsonschema, so
that a hand edit gets a clear error with its key path.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reconciler import __version__
from reconciler.errors import InputError, Problem, key_path
from reconciler.spec.runs import RunStatus, StopReason
from reconciler.state.files import StateFiles, read_state_text, write_atomic
from reconciler.state.provenance import SourceCommit

if TYPE_CHECKING:
    import jsonschema

M = TypeVar("M", bound=BaseModel)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(_Model):
    start: datetime
    end: datetime


class RunRecord(_Model):
    """The run reconciler knows for one spec name."""

    name: str
    instance: str
    provider_type: str
    revision: str
    key: str = Field(description="Digest of (name, revision).")
    attempt: int = Field(ge=1, description="Runs started for this revision so far.")
    run_id: str | None = Field(description="Null while a start is not yet confirmed.")
    status: RunStatus
    api_status: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    failures: int = Field(default=0, ge=0, description="Failed earlier attempts of the revision.")
    stop_reason: StopReason | None = None
    prevent_stop: bool = False
    job: dict[str, Any]
    rerun: int = 0
    window: Window | None = None
    spec_file: str | None = None
    commit: str | None = Field(
        default=None, description="The commit that last changed the spec file when it started."
    )
    scope: str | None = Field(default=None, description="Job definition or pipeline, if any.")
    claimed_at: datetime | None = Field(
        default=None,
        description="Set by `apply --push` when it pushed its intent to start this run: others "
        "wait for it instead of starting it too.",
    )
    prior_runs: list[str] | None = Field(
        default=None,
        description="For APIs whose runs cannot carry our key: the runs of the scope just "
        "before an unconfirmed start; a new one that no record claims is ours.",
    )

    @property
    def run_key(self) -> str:
        return run_key(self.key, self.attempt)


def run_key(key: str, attempt: int) -> str:
    """The tag written into a run at the provider: the spec's key and the attempt number."""
    return f"{key}-{attempt}"


def parse_run_key(value: str) -> tuple[str, int] | None:
    key, _, attempt = value.rpartition("-")
    return (key, int(attempt)) if key and attempt.isdigit() else None


class ProviderState(_Model):
    observed_at: datetime | None = Field(
        default=None, description="Provider clock at the last refresh; bounds the next listing."
    )


class Lockfile(_Model):
    """Version 1 of ``reconciler.lock``."""

    model_config = ConfigDict(
        title="Lockfile",
        json_schema_extra={"$id": "https://reconciler.dev/schemas/lockfile.v1.json"},
    )

    version: Literal[1] = 1
    reconciler_version: str | None = Field(
        default=None, description="The reconciler release that last wrote this file."
    )
    lineage: str = Field(description="Identifies this state's history; set once.")
    serial: int = Field(ge=0, description="Incremented on every write.")
    source: SourceCommit | None = Field(
        default=None, description="The git commit the specs were read at, at the last apply."
    )
    providers: dict[str, ProviderState] = Field(default_factory=dict)
    runs: dict[str, RunRecord] = Field(default_factory=dict)


def new_lockfile() -> Lockfile:
    """The state before any apply. Its lineage is assigned when it is first written, so
    that a plan saved before the first apply still matches the (absent) state."""
    return Lockfile(lineage="", serial=0)


@cache
def _validator(model: type[BaseModel]) -> jsonschema.protocols.Validator:
    import jsonschema  # only for a refused document: importing it cost every command ~50 ms

    schema = model.model_json_schema()
    cls = jsonschema.validators.validator_for(schema)
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


def read_json_document(path: Path, model: type[M], display: str, *, version_field: str) -> M:
    """Read a document named on the command line (a saved plan), strictly."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError([Problem(display, None, None, "", f"cannot read: {exc}")]) from None
    return parse_json_document(text, model, display, version_field=version_field)


def parse_json_document(text: str, model: type[M], display: str, *, version_field: str) -> M:
    """A document reconciler wrote (lockfile, saved plan), read strictly.

    The gate is the model in strict JSON mode (fast, no lax coercions); its JSON Schema is
    generated from the same model. When the gate fails, a format version newer than the model's
    is reported alone (an older reconciler meeting a newer file); otherwise the document is
    checked against the schema with jsonschema, whose key paths best report a hand edit.
    """
    try:
        return model.model_validate_json(text, strict=True)
    except ValidationError as exc:
        rejected = exc
    try:
        data = json.loads(text)
    except RecursionError:
        raise InputError([Problem(display, None, None, "", "invalid: nested too deeply")]) from None
    except json.JSONDecodeError as exc:
        raise InputError(
            [Problem(display, exc.lineno, exc.colno, "", f"invalid JSON: {exc.msg}")]
        ) from None
    newer = _newer_format(data, model, version_field)
    if newer:
        raise InputError([Problem(display, None, None, version_field, newer)])
    errors = sorted(_validator(model).iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        raise InputError(
            [
                Problem(display, None, None, _json_path(e.absolute_path), _schema_reason(e))
                for e in errors
            ]
        )
    raise InputError(
        [
            Problem(display, None, None, _json_path(e["loc"]), e["msg"])
            for e in rejected.errors(include_input=False, include_url=False)
        ]
    )


def _newer_format(data: object, model: type[BaseModel], version_field: str) -> str | None:
    supported = model.model_fields[version_field].default
    found = data.get(version_field) if isinstance(data, dict) else None
    if not isinstance(found, int) or isinstance(found, bool) or found <= supported:
        return None
    writer = data.get("reconciler_version") if isinstance(data, dict) else None
    by = f"reconciler {writer}" if isinstance(writer, str) else "a newer reconciler"
    return (
        f"format version {found} was written by {by}; this is reconciler {__version__}, "
        f"which reads up to version {supported}: upgrade reconciler"
    )


def _schema_reason(error: jsonschema.ValidationError) -> str:
    # jsonschema's message quotes the offending value; keep it short.
    message = error.message
    return message if len(message) <= 160 else message[:157] + "..."


def _json_path(parts: Iterable[str | int]) -> str:
    return key_path(parts) or "(document)"


def read_lockfile(path: Path, display: str) -> Lockfile:
    """The lockfile at ``path``; a new, empty one when there is none yet."""
    text = read_state_text(path)
    if text is None:
        return new_lockfile()
    return parse_json_document(text, Lockfile, display, version_field="version")


def dump_json(model: BaseModel) -> str:
    data = model.model_dump(mode="json", by_alias=True)
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_lockfile(path: Path, lock: Lockfile) -> Lockfile:
    """Write ``lock`` with its serial incremented; returns what was written."""
    written = lock.model_copy(
        update={
            "serial": lock.serial + 1,
            "lineage": lock.lineage or str(uuid.uuid4()),
            "reconciler_version": __version__,
        }
    )
    write_atomic(path, dump_json(written), leftovers=StateFiles(path).temp_pattern)
    return written
