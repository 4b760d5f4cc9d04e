"""When a schedule's occurrences fall, and which of them are due, to start or missed, now.

Pure: the schedule, the last occurrence already dealt with, and ``now`` in; times out as
aware UTC datetimes. The rules, as a Kubernetes CronJob's, with its known gaps closed:

- Occurrences are due from just after the last one dealt with (started or reported missed)
  up to ``now``; a schedule never dealt with is due from when it was first seen.
- An occurrence is on time until its deadline: ``starting_deadline`` after it, or by default
  the next occurrence (a later one supersedes it).
- On time: start it. Late (the policy decides): ``skip`` reports it missed; ``latest`` starts
  the latest late one and reports the others; ``each`` starts every late one, oldest first,
  up to ``catch_up``, and reports the rest. Every missed occurrence is named, with why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cronsim import CronSim

from reconciler.spec.durations import format_duration
from reconciler.spec.schedule import MissedPolicy, Schedule

# A bound on how many occurrences one plan looks at (every minute for a week): a schedule
# not dealt with for longer reports the latest ones and says how many more were missed.
MAX_SCAN = 7 * 24 * 60


@dataclass(frozen=True)
class Missed:
    at: datetime
    reason: str


@dataclass(frozen=True)
class Due:
    """What a schedule asks for now."""

    start: list[datetime] = field(default_factory=list)  # oldest first
    missed: list[Missed] = field(default_factory=list)
    earlier_missed: bool = False  # more than MAX_SCAN were due: the earliest are not listed
    next: datetime | None = None  # the first occurrence after now


def recent(
    schedule: Schedule, since: datetime, now: datetime, limit: int = MAX_SCAN
) -> tuple[list[datetime], bool]:
    """Occurrence times in (``since``, ``now``], oldest first, in UTC: at most the latest
    ``limit``, and whether earlier ones were left out. Scanned backwards from ``now``, so
    a schedule not dealt with for a year costs no more than one dealt with an hour ago."""
    found: list[datetime] = []
    start = (now + timedelta(seconds=1)).astimezone(schedule.zone)  # ``now`` itself included
    for occurrence in CronSim(schedule.expression, start, reverse=True):
        at = occurrence.astimezone(UTC)
        if at <= since:
            return found[::-1], False
        if len(found) == limit:
            return found[::-1], True
        found.append(at)
    return found[::-1], False


def next_occurrence(schedule: Schedule, now: datetime) -> datetime:
    """The first occurrence after ``now``."""
    return next(iter(CronSim(schedule.expression, now.astimezone(schedule.zone)))).astimezone(UTC)


def due(schedule: Schedule, since: datetime, now: datetime) -> Due:
    """What is due at ``now`` of the occurrences after ``since`` (the last one dealt with, or
    when the schedule was first seen)."""
    upcoming = next_occurrence(schedule, now)
    if schedule.suspend:
        return Due(next=upcoming)
    times, earlier = recent(schedule, since, now)
    on_time: list[datetime] = []
    late: list[datetime] = []
    for index, at in enumerate(times):
        following = times[index + 1] if index + 1 < len(times) else upcoming
        deadline = at + schedule.deadline if schedule.deadline is not None else following
        (on_time if now < deadline else late).append(at)
    return _decide(schedule, on_time, late, earlier, upcoming)


def _decide(
    schedule: Schedule,
    on_time: list[datetime],
    late: list[datetime],
    earlier: bool,
    upcoming: datetime,
) -> Due:
    why = (
        f"not started within {format_duration(schedule.starting_deadline)} of its time"
        if schedule.starting_deadline is not None
        else "not started before the next occurrence"
    )
    start: list[datetime] = []
    if schedule.missed is MissedPolicy.EACH:
        start = late[-schedule.catch_up :]
        dropped = late[: -schedule.catch_up] if len(late) > schedule.catch_up else []
        missed = [Missed(at, f"{why}; beyond catch_up ({schedule.catch_up})") for at in dropped]
    elif schedule.missed is MissedPolicy.LATEST and late and not on_time:
        start = late[-1:]
        missed = [Missed(at, f"{why}; a later one starts") for at in late[:-1]]
    else:
        missed = [Missed(at, why) for at in late]
    return Due(start=[*start, *on_time], missed=missed, earlier_missed=earlier, next=upcoming)
