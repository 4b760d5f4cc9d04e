"""The state's pure models: what the lockfile holds (records, serial, lineage) and run keys.

No I/O here: the planner imports these; reading and writing them is ``state.document`` and
a store's job (``state.store``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from reconciler.spec.bulk import BulkModel
from reconciler.spec.runs import FAILURE_LIMIT, RunStatus, StopReason


class SourceCommit(BaseModel):
    """The commit the specs were read at (what the lockfile keeps)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    commit: str = Field(description="HEAD when the specs were read.")
    dirty: bool = Field(description="The specs or reconciler.yaml had uncommitted changes.")


class Source(SourceCommit):
    """With, per spec file, the commit that last changed it (what a plan carries; the lockfile
    keeps that per run instead)."""

    files: dict[str, str] = Field(
        default_factory=dict, description="Spec file -> the last commit that changed it."
    )


class _Model(BulkModel):
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
    failure: str | None = Field(
        default=None,
        max_length=FAILURE_LIMIT,
        description="Why the run failed, as its provider said (reason, exit code, message): one "
        "line without control characters, at most 300 characters.",
    )
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
    occurrence: datetime | None = Field(
        default=None, description="For a scheduled spec: the occurrence this run is for."
    )
    followed: dict[str, str] | None = Field(
        default=None,
        description="For a spec that runs after others: their runs (name -> run key) this run "
        "followed.",
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


class OccurrenceEntry(_Model):
    """One occurrence of a schedule that is over: the run it had, or why it had none."""

    at: datetime
    run_id: str | None = None
    status: RunStatus | None = Field(default=None, description="The run's last known status.")
    missed: str | None = Field(default=None, description="Why no run started, if none did.")


class ScheduleState(_Model):
    """What a scheduled spec's occurrences have come to."""

    since: datetime = Field(
        description="Occurrences up to this time are dealt with (started or missed); at "
        "first, when the schedule was first recorded."
    )
    history: list[OccurrenceEntry] = Field(
        default_factory=list, description="Latest first, as many as the schedule's `history`."
    )
    keep: int = Field(default=10, ge=0, description="The schedule's `history`: entries kept.")
    timezone: str = Field(default="UTC", description="The schedule's zone, to show times in.")


def record_history(
    schedules: Mapping[str, ScheduleState],
    before: Mapping[str, RunRecord],
    after: Mapping[str, RunRecord],
) -> dict[str, ScheduleState]:
    """The schedules' states once new records are in (an apply's, or a journal replayed):
    a scheduled spec whose record now holds a later occurrence's run keeps the earlier run
    in its history."""
    result = dict(schedules)
    for name, state in schedules.items():
        old, new = before.get(name), after.get(name)
        if old is None or old.occurrence is None or new is None:
            continue
        if new.occurrence == old.occurrence or any(e.at == old.occurrence for e in state.history):
            continue
        entry = OccurrenceEntry(at=old.occurrence, run_id=old.run_id, status=old.status)
        history = sorted([entry, *state.history], key=lambda e: e.at, reverse=True)
        result[name] = state.model_copy(update={"history": history[: state.keep]})
    return result


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
    schedules: dict[str, ScheduleState] = Field(
        default_factory=dict, description="Per scheduled spec: occurrences dealt with."
    )


def new_lockfile() -> Lockfile:
    """The state before any apply. Its lineage is assigned when it is first written, so
    that a plan saved before the first apply still matches the (absent) state."""
    return Lockfile(lineage="", serial=0)
