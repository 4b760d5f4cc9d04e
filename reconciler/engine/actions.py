"""What planning decides: actions (each with its kind, reason and, for API calls, a typed
order) and the plan that carries them to ``apply`` and into ``plan -o`` files. Pure data."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from reconciler.engine.config_review import ConfigChange, withheld_instances
from reconciler.engine.desired import DesiredRun
from reconciler.spec.bulk import BulkModel
from reconciler.spec.runs import StopReason
from reconciler.state.model import RunRecord, ScheduleState, Source


class ActionKind(enum.StrEnum):
    START = "start"
    STOP = "stop"
    REPLACE = "replace"  # stop the previous revision's run, then start
    RETRY = "retry"  # start again after a failure
    ADOPT = "adopt"  # record a run found by its key; no API call
    FORGET = "forget"  # drop a record whose spec and run are both gone
    WAIT = "wait"  # nothing now: window not open, or blocked by an active run
    IN_PROGRESS = "in-progress"
    DONE = "done"
    MISSED = "missed"  # a window closed, or occurrences passed, before a run started
    BLOCKED = "blocked"  # a spec it runs after failed, stopped or missed: no run starts
    FAILED = "failed"  # retries exhausted
    ORPHAN = "orphan"  # spec removed, run active, prune off (or prevent_stop)
    DRIFT = "drift"  # changed outside reconciler
    ERROR = "error"  # the provider could not be observed: nothing decided for this spec

    @property
    def is_change(self) -> bool:
        return self in CHANGES

    @property
    def calls_api(self) -> bool:
        return self in (ActionKind.START, ActionKind.STOP, ActionKind.REPLACE, ActionKind.RETRY)


CHANGES = frozenset(
    {
        ActionKind.START,
        ActionKind.STOP,
        ActionKind.REPLACE,
        ActionKind.RETRY,
        ActionKind.ADOPT,
        ActionKind.FORGET,
    }
)


class _Frozen(BulkModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldChange(_Frozen):
    path: str
    old: Any = None
    new: Any = None


class StartOrder(_Frozen):
    """What a start makes: the spec's run, as attempt ``attempt`` of its revision."""

    desired: DesiredRun
    attempt: int = Field(ge=1)
    failures: int = Field(default=0, ge=0, description="Failed attempts, into the new record.")


class StopOrder(_Frozen):
    run_id: str
    reason: StopReason


class MissedOccurrence(_Frozen):
    at: datetime
    reason: str


class ScheduleNote(_Frozen):
    """For a scheduled spec's actions: the occurrence acted on, the next one, the missed ones."""

    timezone: str
    occurrence: datetime | None = None
    next_at: datetime | None = None
    missed: tuple[MissedOccurrence, ...] = ()
    missed_earlier: bool = Field(
        default=False, description="More occurrences were missed before those listed."
    )


STARTS = frozenset({ActionKind.START, ActionKind.RETRY, ActionKind.REPLACE})
STOPS = frozenset({ActionKind.STOP, ActionKind.REPLACE})


class Action(_Frozen):
    """One decision for one spec (or record): its kind and reason, and for the kinds that
    call an API the order to carry out: ``start`` for start, retry and replace, ``stop`` for
    stop and replace; nothing else has one (checked, also when a saved plan is read)."""

    kind: ActionKind
    name: str
    instance: str
    reason: str
    start: StartOrder | None = None
    stop: StopOrder | None = None
    run_id: str | None = None  # adopt: the run found; forget: the run whose record goes
    changes: tuple[FieldChange, ...] = ()
    schedule: ScheduleNote | None = None

    @model_validator(mode="after")
    def _orders_match_kind(self) -> Action:
        for order, kinds, what in ((self.start, STARTS, "start"), (self.stop, STOPS, "stop")):
            if (order is not None) != (self.kind in kinds):
                needs = "needs" if self.kind in kinds else "has no"
                raise ValueError(f"a {self.kind.value} action {needs} a {what} order")
        return self


class Plan(_Frozen):
    """Immutable output of planning; ``apply`` consumes it, and ``plan -o`` saves it."""

    model_config = ConfigDict(
        title="Plan", json_schema_extra={"$id": "https://reconciler.dev/schemas/plan.v1.json"}
    )

    format_version: Literal[1] = 1
    reconciler_version: str = Field(description="The reconciler release that made the plan.")
    created_at: datetime
    lineage: str
    serial: int
    lockfile_digest: str  # the records planned from: a hand edit keeps the serial, not this
    specs_digest: str
    prune: bool
    targets: tuple[str, ...] = ()
    records: dict[str, RunRecord]  # the state after refresh and adoption, before actions
    schedules: dict[str, ScheduleState] = Field(
        default_factory=dict, description="Scheduled specs' state, missed occurrences recorded."
    )
    after: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="Specs that run after others: name -> their names."
    )
    missed_occurrences: int = Field(
        default=0, ge=0, description="Occurrences of schedules missed, in this plan's actions."
    )
    actions: tuple[Action, ...]
    observed_at: dict[str, datetime | None]  # provider clocks at refresh
    source: Source | None = None  # the git commit the specs were read at
    refresh_calls: dict[str, int]  # API calls the refresh made, per instance
    # Pull-request mode: what reconciler.yaml changes against the trusted revision.
    config_review: tuple[ConfigChange, ...] = ()

    digest: str | None = Field(
        default=None,
        description="SHA-256 of the canonical plan without digest and signature; set by `plan -o`.",
    )
    signature: str | None = Field(
        default=None,
        description="HMAC-SHA256 of the same content with the key in RECONCILER_PLAN_KEY, if set.",
    )

    @property
    def changes(self) -> list[Action]:
        return [a for a in self.actions if a.kind.is_change]

    @property
    def errors(self) -> list[Action]:
        return [a for a in self.actions if a.kind is ActionKind.ERROR]

    @property
    def withheld(self) -> dict[str, str]:
        """Instances not refreshed because their configuration awaits review, and why."""
        return withheld_instances(self.config_review)
