"""The journal's entries, as data: what an apply writes before and after each API call, and
how they fold into the state. Pure: a store keeps them (a file of JSON lines, a table).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from reconciler.spec.runs import RunStatus, StopReason
from reconciler.state.model import Lockfile, RunRecord, record_history


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IntentEntry(_Entry):
    """Before a start: the record the run will have, with no run id yet."""

    op: Literal["intent"] = "intent"
    record: RunRecord


class StartedEntry(_Entry):
    op: Literal["started"] = "started"
    name: str
    run_id: str
    status: RunStatus
    started_at: datetime | None


class StartFailedEntry(_Entry):
    """The API refused the start: no run exists for the intent."""

    op: Literal["start_failed"] = "start_failed"
    name: str


class StopIntentEntry(_Entry):
    op: Literal["stop_intent"] = "stop_intent"
    name: str
    run_id: str
    reason: StopReason


class StopEntry(_Entry):
    op: Literal["stop"] = "stop"
    name: str
    run_id: str
    reason: StopReason
    status: RunStatus


Entry = Annotated[
    IntentEntry | StartedEntry | StartFailedEntry | StopIntentEntry | StopEntry,
    Field(discriminator="op"),
]
ENTRY: TypeAdapter[Entry] = TypeAdapter(Entry)
OPS = ("intent", "started", "start_failed", "stop_intent", "stop")


def fold(lock: Lockfile, entries: list[Entry]) -> Lockfile:
    """The lockfile with the journal's entries applied, in order."""
    runs = dict(lock.runs)
    displaced: dict[str, RunRecord | None] = {}  # what each intent replaced
    for entry in entries:
        if isinstance(entry, IntentEntry):
            displaced[entry.record.name] = runs.get(entry.record.name)
            runs[entry.record.name] = entry.record
            continue
        record = runs.get(entry.name)
        if record is None:
            continue
        if isinstance(entry, StartedEntry):
            runs[record.name] = record.model_copy(
                update={
                    "run_id": entry.run_id,
                    "status": entry.status,
                    "started_at": entry.started_at,
                }
            )
        elif isinstance(entry, StartFailedEntry) and record.run_id is None:
            previous = displaced.get(record.name)
            if previous is None:
                del runs[record.name]
            else:
                runs[record.name] = previous
        elif isinstance(entry, StopIntentEntry) and record.run_id == entry.run_id:
            runs[record.name] = record.model_copy(update={"stop_reason": entry.reason})
        elif isinstance(entry, StopEntry) and record.run_id == entry.run_id:
            runs[record.name] = record.model_copy(
                update={"stop_reason": entry.reason, "status": entry.status}
            )
    schedules = record_history(lock.schedules, lock.runs, runs)
    return lock.model_copy(update={"runs": runs, "schedules": schedules})
