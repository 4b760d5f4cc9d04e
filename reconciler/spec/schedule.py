"""A spec's recurring schedule: a cron expression in an IANA time zone, as a Kubernetes
CronJob has, with what to do about occurrences that were not started in time.

Cron arithmetic is cronsim's (maintained, no dependencies, Debian cron's behaviour across
daylight-saving changes: a time that does not exist runs at the first minute after it, a time
that exists twice runs once, at its first). Time zones are the standard library's zoneinfo.
"""

from __future__ import annotations

import enum
import itertools
from datetime import datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from reconciler.spec.durations import PositiveDuration, format_duration

# The aliases cron users write, in the five fields they stand for.
ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
CRON_RULE = (
    "a cron expression of five fields (minute hour day-of-month month day-of-week), "
    f"or one of {', '.join(ALIASES)}"
)
MAX_CATCH_UP = 100
PERIOD_SAMPLE = 400  # occurrences looked at for the period: a year of weekly, 16 days of hourly
# The most a zone's clock moves at once (Antarctica/Troll: 2 h; most zones 1 h).
MAX_CLOCK_SHIFT = 2 * 3600


class MissedPolicy(enum.StrEnum):
    """What to do with occurrences that are due and were not started within the deadline."""

    SKIP = "skip"  # report them; start nothing late
    LATEST = "latest"  # start the latest of them, once; report the others
    EACH = "each"  # start each of them, oldest first, up to ``catch_up``; report the rest


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cron: str = Field(max_length=200, description=CRON_RULE + ".")
    timezone: str = Field(
        default="UTC", max_length=64, description="IANA time zone the cron fields are read in."
    )
    starting_deadline: PositiveDuration | None = Field(
        default=None,
        description="An occurrence not started within this long of its time is missed; "
        "default: by the next occurrence.",
    )
    missed: MissedPolicy = MissedPolicy.SKIP
    catch_up: int = Field(
        default=10, ge=1, le=MAX_CATCH_UP, description="With `missed: each`: how many at most."
    )
    suspend: bool = Field(default=False, description="Start no occurrence while true.")
    history: int = Field(
        default=10, ge=0, le=1000, description="Finished and missed occurrences kept in state."
    )

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        expression = ALIASES.get(value.strip().lower(), value)
        if len(expression.split()) != 5:
            raise ValueError(CRON_RULE)
        try:
            next(CronSim(expression, datetime(2026, 1, 1)))
        except (CronSimError, StopIteration) as exc:
            reason = str(exc) or "no time matches it"
            raise ValueError(f"{reason}; expected {CRON_RULE}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "not an IANA time zone (such as UTC, Europe/Berlin, America/New_York)"
            ) from None
        return value

    @model_validator(mode="after")
    def _deadline_within_period(self) -> Schedule:
        if self.starting_deadline is None or self.starting_deadline <= self.least_period():
            return self  # without walking a year of occurrences (~10 ms a schedule)
        if self.starting_deadline > self.period():
            raise ValueError(
                f"starting_deadline ({format_duration(self.starting_deadline)}) is longer than "
                f"the shortest time between occurrences ({format_duration(self.period())}): "
                "two occurrences could be due at once"
            )
        return self

    def least_period(self) -> int:
        """A bound the period is never below, in seconds, from the minute and hour fields
        alone: the least time between two of the day's times (the day fields only leave days
        out), less the most a clock moves at a daylight-saving change."""
        times = CronSim(self.expression, datetime(2026, 1, 1))
        day = sorted(h * 60 + m for h in times.hours for m in times.minutes)
        gaps = [b - a for a, b in itertools.pairwise([*day, day[0] + 24 * 60])]
        return min(gaps) * 60 - MAX_CLOCK_SHIFT

    def period(self) -> int:
        """The shortest time between two occurrences, in seconds, over a sample of a year."""
        times = CronSim(self.expression, datetime(2026, 1, 1, tzinfo=self.zone))
        sample = [next(times) for _ in range(PERIOD_SAMPLE)]
        return int(min((b - a).total_seconds() for a, b in itertools.pairwise(sample)))

    @property
    def expression(self) -> str:
        """The five fields, aliases expanded."""
        return ALIASES.get(self.cron.strip().lower(), self.cron)

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def deadline(self) -> timedelta | None:
        if self.starting_deadline is None:
            return None
        return timedelta(seconds=self.starting_deadline)
