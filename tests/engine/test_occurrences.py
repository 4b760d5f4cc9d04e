"""Which occurrences of a schedule are due, to start or missed (engine.occurrences): table
tests, daylight-saving days included, and the schedule's own validation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from reconciler.engine.occurrences import MAX_SCAN, Due, due
from reconciler.spec.schedule import Schedule

BERLIN = ZoneInfo("Europe/Berlin")


def at(hour: int, minute: int = 0, day: int = 2) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def schedule(cron: str = "0 * * * *", **fields: Any) -> Schedule:
    return Schedule.model_validate({"cron": cron, **fields})


def summary(found: Due) -> tuple[list[datetime], list[tuple[datetime, str]]]:
    return found.start, [(m.at, m.reason) for m in found.missed]


@pytest.mark.parametrize(
    ("fields", "since", "now", "start", "missed"),
    [
        ({}, at(9), at(10, 5), [at(10)], []),
        ({}, at(10), at(10, 30), [], []),
        ({"starting_deadline": "10m"}, at(9), at(10, 15), [], [at(10)]),
        ({}, at(6), at(10, 15), [at(10)], [at(7), at(8), at(9)]),
        (
            {"starting_deadline": "10m", "missed": "latest"},
            at(6),
            at(10, 15),
            [at(10)],
            [at(7), at(8), at(9)],
        ),
        (
            {"starting_deadline": "10m", "missed": "each", "catch_up": 2},
            at(6),
            at(10, 15),
            [at(9), at(10)],
            [at(7), at(8)],
        ),
        ({"starting_deadline": "10m", "missed": "each"}, at(8), at(10, 5), [at(9), at(10)], []),
        ({"suspend": True}, at(6), at(10, 15), [], []),
    ],
    ids=[
        "due",
        "not-yet-due",
        "missed-beyond-the-deadline",
        "superseded-by-a-later-one",
        "latest-starts-the-latest-late-one",
        "each-up-to-catch-up",
        "each-on-time-and-late",
        "suspended",
    ],
)
def test_due_occurrences(
    fields: dict[str, Any],
    since: datetime,
    now: datetime,
    start: list[datetime],
    missed: list[datetime],
) -> None:
    found = due(schedule(**fields), since, now)
    assert found.start == start
    assert [m.at for m in found.missed] == missed
    assert found.next == at(11)


def test_a_missed_occurrence_says_why() -> None:
    deadline = due(schedule(starting_deadline="10m"), at(9), at(10, 15))
    assert summary(deadline) == ([], [(at(10), "not started within 10m of its time")])
    superseded = due(schedule(), at(8), at(10, 15))
    assert summary(superseded)[1] == [(at(9), "not started before the next occurrence")]
    latest = due(schedule(starting_deadline="10m", missed="latest"), at(8), at(10, 15))
    assert summary(latest) == (
        [at(10)],
        [(at(9), "not started within 10m of its time; a later one starts")],
    )


def test_spring_forward_runs_a_time_that_does_not_exist_once_at_the_first_minute_after() -> None:
    nightly = schedule("30 2 * * *", timezone="Europe/Berlin")
    since = datetime(2026, 3, 28, 12, tzinfo=BERLIN)
    found = due(nightly, since, datetime(2026, 3, 29, 3, 5, tzinfo=BERLIN))
    assert found.start == [datetime(2026, 3, 29, 1, 0, tzinfo=UTC)]  # 03:00 CEST
    assert found.next == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)  # 02:30 CEST


def test_fall_back_runs_a_time_that_exists_twice_once() -> None:
    nightly = schedule("30 2 * * *", timezone="Europe/Berlin")
    since = datetime(2026, 10, 24, 12, tzinfo=BERLIN)
    found = due(nightly, since, datetime(2026, 10, 25, 4, 0, tzinfo=BERLIN))
    assert found.start == [datetime(2026, 10, 25, 0, 30, tzinfo=UTC)]  # the first 02:30, CEST
    assert found.missed == []
    assert found.next == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)  # 02:30 CET


def test_a_schedule_edited_to_an_earlier_time_does_not_run_the_day_twice() -> None:
    earlier = schedule("0 1 * * *")
    assert due(earlier, at(2), at(3)).start == []  # today's run was at 02:00, before the edit
    assert due(earlier, at(2), at(3)).next == at(1, day=3)
    assert due(earlier, at(2), at(1, 30, day=3)).start == [at(1, day=3)]


def test_a_schedule_not_dealt_with_for_long_lists_the_latest_and_says_there_were_more() -> None:
    found = due(schedule("* * * * *"), at(0, day=1).replace(month=11), at(10, 0, day=2))
    assert found.earlier_missed
    assert found.start == [at(10)]
    assert len(found.missed) == MAX_SCAN - 1


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"cron": "61 * * * *"}, "Bad minute; expected a cron expression of five fields"),
        ({"cron": "0 0 * * * *"}, "a cron expression of five fields"),
        ({"cron": "@fortnightly"}, "a cron expression of five fields"),
        ({"cron": "0 0 31 2 *"}, "Bad day-of-month; expected"),
        ({"cron": "@hourly", "timezone": "Mars/Olympus"}, "not an IANA time zone"),
        (
            {"cron": "*/5 * * * *", "starting_deadline": "10m"},
            "starting_deadline (10m) is longer than the shortest time between occurrences (5m)",
        ),
    ],
)
def test_a_bad_schedule_is_one_reason(fields: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Schedule.model_validate(fields)
    [error] = caught.value.errors()
    assert reason in error["msg"]


def test_aliases_and_zones_are_read_as_cron_users_write_them() -> None:
    daily = schedule("@daily", timezone="America/New_York")
    assert daily.expression == "0 0 * * *"
    found = due(daily, datetime(2026, 12, 1, 12, tzinfo=UTC), datetime(2026, 12, 2, 6, tzinfo=UTC))
    assert found.start == [datetime(2026, 12, 2, 5, 0, tzinfo=UTC)]  # midnight EST


@pytest.mark.parametrize(
    "cron",
    ["0 2 * * *", "30 2 * * *", "30 2,3 * * *", "0 1,3 * * *", "0 17 * * 5", "*/20 * * * *"],
)
@pytest.mark.parametrize(
    "zone", ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Antarctica/Troll"]
)
def test_the_least_period_from_the_fields_is_never_above_the_sampled_one(
    cron: str, zone: str
) -> None:
    """What lets a deadline pass without walking a year of occurrences is a true bound,
    daylight-saving changes of 30 minutes to 2 hours included."""
    found = schedule(cron, timezone=zone)
    assert found.least_period() <= found.period()


def test_a_deadline_over_a_daylight_saving_shortened_day_is_still_refused() -> None:
    # 02:30 does not exist on Berlin's spring day: it runs at 03:00, 23.5 h after the last.
    with pytest.raises(ValidationError, match=r"shortest time between occurrences \(23h30m\)"):
        schedule("30 2 * * *", timezone="Europe/Berlin", starting_deadline="23h45m")
