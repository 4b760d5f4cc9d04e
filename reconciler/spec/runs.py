"""Runs as reconciler sees them: normalized status and observations, shared by providers,
the lockfile and the planner. Pure: no I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict


class RunStatus(enum.StrEnum):
    """Every API status maps to exactly one of these."""

    PENDING = "pending"
    RUNNING = "running"
    STOPPING = "stopping"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        return self in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.STOPPED)

    @property
    def is_active(self) -> bool:
        # UNKNOWN counts as active: never start a second run while one may be alive.
        return not self.is_terminal


class StopReason(enum.StrEnum):
    """Why reconciler asked for a stop; decides what the next plan does with the run."""

    SPEC = "spec"  # state: stopped
    TIMEOUT = "timeout"  # counts as a failure
    WINDOW = "window"  # the window closed
    REPLACE = "replace"  # superseded by a new revision
    PRUNE = "prune"  # the spec was removed


@dataclass(frozen=True)
class ObservedRun:
    """A run as the provider reports it now."""

    run_id: str
    run_key: str | None  # our key, when the run carries one
    status: RunStatus
    api_status: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    created_at: datetime | None = None
    scope: str | None = None  # the job definition / pipeline it belongs to, where listed so


class RunTraits(BaseModel):
    """What the planner must know about a provider's runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keyed: bool = True  # a run carries our run key (else: adopt by the intent's snapshot)
    exclusive_scope: bool = False  # at most one active run per scope (e.g. per pipeline)
    schedules_window: bool = False  # the API itself starts and ends a run at the window
