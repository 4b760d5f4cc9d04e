"""Runs as reconciler sees them: normalized status and observations, shared by providers,
the lockfile and the planner. Pure: no I/O."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

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


FAILURE_LIMIT = 300  # characters of a failure's account kept in the lockfile and shown
# C0 and C1 controls, DEL, bidi controls and line/paragraph separators: a failure's account
# is one line of plain text wherever it is kept.
_CONTROLS = re.compile(
    r"\s*(?:[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]\s*)+"
)


def one_line(text: str, limit: int = FAILURE_LIMIT) -> str:
    """``text`` with each run of control characters (and the spaces around it) made one
    space, trimmed, and cut to ``limit`` characters (an ellipsis ending a cut one)."""
    flat = _CONTROLS.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class RunFailure:
    """Why a run failed, in one shape for every provider: a short ``reason`` (what failed),
    the provider's ``message`` and the process's ``exit_code``, where the API gives them."""

    reason: str
    message: str | None = None
    exit_code: int | None = None

    def summary(self) -> str:
        """One line, bounded, without control characters: what the lockfile keeps."""
        text = self.reason
        if self.exit_code is not None:
            text += f" (exit code {self.exit_code})"
        if self.message:
            text += f": {self.message}"
        return one_line(text)


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
    failure: RunFailure | None = None  # why it failed, where the API says
    progress: float | None = None  # 0..1, where the API reports it
    elapsed: timedelta | None = None  # the API's own count of run time, where it has one

    def elapsed_at(self, now: datetime) -> timedelta | None:
        """How long it has run: the API's count, else from its start to its end (or ``now``)."""
        if self.elapsed is not None:
            return self.elapsed
        if self.started_at is None:
            return None
        return max(timedelta(0), (self.ended_at or now) - self.started_at)


class RunTraits(BaseModel):
    """What the planner must know about a provider's runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keyed: bool = True  # a run carries our run key (else: adopt by the intent's snapshot)
    # A listing of a scope holds every run of it, whatever ``since``: an apply's first keyless
    # start in a scope may take the plan's refresh, moments old, as its snapshot.
    lists_scopes_whole: bool = False
    exclusive_scope: bool = False  # at most one active run per scope (e.g. per pipeline)
    schedules_window: bool = False  # the API itself starts and ends a run at the window
