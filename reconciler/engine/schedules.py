"""Scheduled specs in a plan: which occurrence a spec plans now, what was missed, and what its
schedule's state becomes. Pure, as the planner that calls it.

A scheduled spec keeps one record, the run of its latest occurrence begun; an occurrence is
dealt with once a record carries it (the start's intent is journaled with it, so a crash
cannot start it twice) or once it is recorded missed. ``since`` in the state is the latest
occurrence recorded missed, or when the schedule was first recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from reconciler.engine.actions import MissedOccurrence
from reconciler.engine.desired import DesiredRun
from reconciler.engine.occurrences import due, recent
from reconciler.spec.models import DesiredState
from reconciler.spec.schedule import Schedule
from reconciler.state.model import OccurrenceEntry, RunRecord, ScheduleState


@dataclass(frozen=True)
class Step:
    """What one plan does with a scheduled spec."""

    desired: DesiredRun | None  # the occurrence's run to plan; None: no occurrence to act on
    is_due: bool  # ``desired`` is an occurrence due now, not the one recorded
    missed: tuple[MissedOccurrence, ...]
    missed_earlier: bool
    next_at: datetime | None
    state: ScheduleState


def paused(spec: DesiredRun) -> bool:
    """Suspended, or asked to have no run: no occurrence starts, none is missed."""
    return schedule_of(spec).suspend or spec.state is DesiredState.STOPPED


def schedule_of(spec: DesiredRun) -> Schedule:
    assert spec.schedule is not None  # only scheduled specs come here
    return spec.schedule


def step(
    spec: DesiredRun, record: RunRecord | None, state: ScheduleState | None, now: datetime
) -> Step:
    schedule = schedule_of(spec)
    recorded = state.since if state is not None else now
    if paused(spec):  # occurrences while paused are skipped, not missed
        skipped, _ = recent(schedule, recorded, now, limit=1)
        recorded = max([recorded, *skipped])
    since = recorded  # the record's occurrence is dealt with too, and need not be written twice
    if record is not None and record.occurrence is not None and record.occurrence > since:
        since = record.occurrence
    found = due(schedule, since, now)
    missed = tuple(MissedOccurrence(at=m.at, reason=m.reason) for m in found.missed)
    history = [OccurrenceEntry(at=m.at, missed=m.reason) for m in reversed(missed)]
    history += state.history if state is not None else []
    new_state = ScheduleState(
        since=max([recorded, *(m.at for m in missed)]),
        history=history[: schedule.history],
        keep=schedule.history,
        timezone=schedule.timezone,
    )
    desired: DesiredRun | None = None
    if found.start:
        desired = spec.for_occurrence(found.start[0])
    elif record is not None and record.occurrence is not None and record.revision == spec.revision:
        desired = spec.for_occurrence(record.occurrence)
    return Step(
        desired=desired,
        is_due=bool(found.start),
        missed=missed,
        missed_earlier=found.earlier_missed,
        next_at=found.next,
        state=new_state,
    )


def local_time(at: datetime, schedule: Schedule | str) -> str:
    """``2026-12-03 02:00 CET``: an occurrence as its schedule's zone reads it."""
    zone = schedule.zone if isinstance(schedule, Schedule) else ZoneInfo(schedule)
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
