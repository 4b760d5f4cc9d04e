"""The planner's decisions for scheduled specs: one start per occurrence due, missed ones
named, concurrency between occurrences, revisions between occurrences, daylight saving."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reconciler.engine.actions import Action, ActionKind
from reconciler.engine.desired import DesiredRun
from reconciler.engine.plan import Planned, plan_actions
from reconciler.spec.runs import ObservedRun, RunStatus
from reconciler.state.model import Lockfile, RunRecord, ScheduleState, record_history
from tests.engine.test_plan import observed, record, spec

DAY = datetime(2026, 12, 2, tzinfo=UTC)


def at(hour: int, minute: int = 0) -> datetime:
    return DAY.replace(hour=hour, minute=minute)


def scheduled(
    cron: str = "0 * * * *", *, job: dict[str, Any] | None = None, **fields: Any
) -> DesiredRun:
    schedule = {"cron": cron, **fields.pop("schedule", {})}
    return spec(job=job, schedule=schedule, **fields)


def occurrence_record(
    desired: DesiredRun, occurrence: datetime, status: RunStatus = RunStatus.RUNNING, **fields: Any
) -> RunRecord:
    base = record(desired.for_occurrence(occurrence), status, started=occurrence, **fields)
    return base.model_copy(update={"occurrence": occurrence})


def plan(
    desired: DesiredRun,
    now: datetime,
    *,
    since: datetime | None = None,
    records: list[RunRecord] = (),  # type: ignore[assignment]
    runs: list[ObservedRun] = (),  # type: ignore[assignment]
) -> Planned:
    schedules = {desired.name: ScheduleState(since=since)} if since else {}
    lock = Lockfile(lineage="l", serial=1, runs={r.name: r for r in records}, schedules=schedules)
    return plan_actions([desired], lock, {"etl": list(runs)}, now=now, prune=False)


def kinds(planned: Planned) -> list[ActionKind]:
    return [a.kind for a in planned.actions]


def decision(planned: Planned) -> Action:
    return planned.actions[-1]


def missed_times(planned: Planned) -> list[datetime]:
    return [m.at for a in planned.actions if a.kind is ActionKind.MISSED for m in a.schedule.missed]  # type: ignore[union-attr]


def test_first_seen_waits_for_the_next_occurrence() -> None:
    planned = plan(scheduled(), at(10, 5))
    assert kinds(planned) == [ActionKind.WAIT]
    assert decision(planned).reason == "next occurrence 2026-12-02 11:00 UTC"
    assert planned.schedules["orders"].since == at(10, 5)


def test_due_occurrence_starts_with_its_own_key() -> None:
    desired = scheduled()
    planned = plan(desired, at(10, 5), since=at(9, 30))
    action = decision(planned)
    assert action.kind is ActionKind.START
    assert action.reason == "occurrence 2026-12-02 10:00 UTC is due"
    assert action.start is not None
    assert action.start.desired.occurrence == at(10)
    assert action.start.desired.key == desired.for_occurrence(at(10)).key != desired.key
    assert action.schedule is not None
    assert action.schedule.occurrence == at(10)
    assert action.schedule.next_at == at(11)


def test_occurrence_keys_differ_per_occurrence_and_revision() -> None:
    one, other = scheduled(), scheduled(job={"cluster_id": 1, "package_id": 3})
    keys = {d.for_occurrence(t).key for d in (one, other) for t in (at(10), at(11))}
    assert len(keys) == 4


def test_not_yet_due_after_its_occurrence_started() -> None:
    desired = scheduled()
    running = occurrence_record(desired, at(10))
    planned = plan(desired, at(10, 20), since=at(9, 30), records=[running])
    assert kinds(planned) == [ActionKind.IN_PROGRESS]
    succeeded = occurrence_record(desired, at(10), RunStatus.SUCCEEDED)
    planned = plan(desired, at(10, 50), since=at(9, 30), records=[succeeded])
    assert kinds(planned) == [ActionKind.DONE]
    assert decision(planned).reason == "run 7 succeeded"


def test_the_started_occurrence_is_found_by_its_key_after_a_lost_answer() -> None:
    desired = scheduled()
    key = desired.for_occurrence(at(10)).key
    planned = plan(
        desired, at(10, 5), since=at(9, 30), runs=[observed("9", f"{key}-1", RunStatus.RUNNING)]
    )
    assert kinds(planned) == [ActionKind.ADOPT]
    assert planned.records["orders"].occurrence == at(10)


def test_missed_beyond_the_deadline_is_named() -> None:
    desired = scheduled(schedule={"starting_deadline": "10m"})
    planned = plan(desired, at(10, 15), since=at(9, 30))
    assert kinds(planned) == [ActionKind.MISSED, ActionKind.WAIT]
    assert missed_times(planned) == [at(10)]
    assert planned.actions[0].reason == (
        "occurrence(s) missed: 2026-12-02 10:00 UTC (not started within 10m of its time)"
    )
    state = planned.schedules["orders"]
    assert state.since == at(10)
    assert [(e.at, e.missed) for e in state.history] == [
        (at(10), "not started within 10m of its time")
    ]


@pytest.mark.parametrize(
    ("policy", "started", "missed"),
    [
        ("skip", at(10), [at(7), at(8), at(9)]),
        ("latest", at(10), [at(7), at(8), at(9)]),  # 10:00 is on time: nothing late starts
        ("each", at(8), [at(7)]),  # catch_up 2: 8:00 and 9:00 late, then 10:00; oldest first
    ],
)
def test_missed_policies(policy: str, started: datetime, missed: list[datetime]) -> None:
    desired = scheduled(schedule={"missed": policy, "catch_up": 2})
    planned = plan(desired, at(10, 15), since=at(6, 30))
    start = decision(planned).start
    assert start is not None
    assert start.desired.occurrence == started
    assert missed_times(planned) == missed


def test_latest_starts_the_latest_late_one_when_none_is_on_time() -> None:
    desired = scheduled(schedule={"missed": "latest", "starting_deadline": "10m"})
    planned = plan(desired, at(10, 15), since=at(6, 30))
    start = decision(planned).start
    assert start is not None
    assert start.desired.occurrence == at(10)
    assert missed_times(planned) == [at(7), at(8), at(9)]


def test_suspended_starts_nothing_and_misses_nothing() -> None:
    desired = scheduled(schedule={"suspend": True})
    planned = plan(desired, at(10, 15), since=at(6, 30))
    assert kinds(planned) == [ActionKind.WAIT]
    assert decision(planned).reason == "schedule suspended"


def test_suspended_then_resumed_misses_nothing_from_the_pause() -> None:
    desired = scheduled(schedule={"suspend": True})
    paused = plan(desired, at(10, 15), since=at(6, 30))
    assert paused.schedules["orders"].since == at(10)  # changes once an occurrence, not a plan
    resumed = plan(scheduled(), at(12, 5), since=paused.schedules["orders"].since)
    assert missed_times(resumed) == [at(11)]  # after the pause: missed as usual
    start = decision(resumed).start
    assert start is not None
    assert start.desired.occurrence == at(12)


def test_state_stopped_stops_the_running_occurrence_and_starts_none() -> None:
    desired = scheduled(state="stopped")
    running = occurrence_record(scheduled(), at(10))
    planned = plan(desired, at(11, 5), since=at(9, 30), records=[running])
    assert kinds(planned) == [ActionKind.STOP]
    planned = plan(desired, at(12, 5), since=at(9, 30))
    assert (kinds(planned), decision(planned).reason) == (
        [ActionKind.WAIT],
        "no occurrence starts (state: stopped)",
    )


def test_retries_exhausted_wait_for_the_next_occurrence() -> None:
    desired = scheduled()
    failed = occurrence_record(desired, at(10), RunStatus.FAILED)
    planned = plan(desired, at(10, 20), since=at(9, 30), records=[failed])
    assert decision(planned).reason == (
        "run 7 failed; retries exhausted (0 of 0); the next occurrence starts as usual"
    )


@pytest.mark.parametrize(
    ("concurrency", "kind", "reason"),
    [
        (
            None,  # forbid is a scheduled spec's default
            ActionKind.WAIT,
            "occurrence 2026-12-02 11:00 UTC is due; waiting for run 7 to end "
            "(concurrency: forbid)",
        ),
        (
            "replace",
            ActionKind.REPLACE,
            "occurrence 2026-12-02 11:00 UTC is due; stop run 7, then start",
        ),
        (
            "allow",
            ActionKind.START,
            "occurrence 2026-12-02 11:00 UTC is due; run 7 keeps running (concurrency: allow)",
        ),
    ],
)
def test_concurrency_with_the_previous_occurrence_active(
    concurrency: str | None, kind: ActionKind, reason: str
) -> None:
    fields: dict[str, Any] = {"concurrency": concurrency} if concurrency else {}
    desired = scheduled(**fields)
    planned = plan(
        desired, at(11, 5), since=at(9, 30), records=[occurrence_record(desired, at(10))]
    )
    assert (decision(planned).kind, decision(planned).reason) == (kind, reason)


def test_forbid_misses_the_occurrence_once_its_deadline_passes() -> None:
    desired = scheduled(schedule={"starting_deadline": "30m"})
    planned = plan(
        desired, at(11, 40), since=at(9, 30), records=[occurrence_record(desired, at(10))]
    )
    assert kinds(planned) == [ActionKind.MISSED, ActionKind.IN_PROGRESS]
    assert missed_times(planned) == [at(11)]


def test_a_revision_change_between_occurrences_leaves_the_last_run_alone() -> None:
    old = scheduled()
    new = scheduled(job={"cluster_id": 1, "package_id": 3})
    running = occurrence_record(old, at(10))
    planned = plan(new, at(10, 20), since=at(9, 30), records=[running])
    assert (decision(planned).kind, decision(planned).reason) == (
        ActionKind.IN_PROGRESS,
        "run 7 of occurrence 2026-12-02 10:00 UTC is running; next occurrence 2026-12-02 11:00 UTC",
    )
    planned = plan(
        new,
        at(11, 5),
        since=at(9, 30),
        records=[running.model_copy(update={"status": RunStatus.SUCCEEDED})],
    )
    start = decision(planned).start
    assert start is not None
    assert start.desired.revision == new.revision
    assert start.desired.occurrence == at(11)
    assert decision(planned).changes  # the job change is shown


def test_a_failed_occurrence_retries_within_its_occurrence() -> None:
    desired = scheduled(retry={"limit": 1})
    failed = occurrence_record(desired, at(10), RunStatus.FAILED)
    planned = plan(desired, at(10, 20), since=at(9, 30), records=[failed])
    action = decision(planned)
    assert action.kind is ActionKind.RETRY
    assert action.start is not None
    assert action.start.desired.occurrence == at(10)
    assert action.start.attempt == 2


def test_a_schedule_edited_to_an_earlier_time_does_not_rerun_the_day() -> None:
    nightly = scheduled("0 3 * * *")
    done = occurrence_record(nightly, at(3), RunStatus.SUCCEEDED)
    earlier = scheduled("0 1 * * *")
    planned = plan(earlier, at(5), since=DAY - timedelta(hours=1), records=[done])
    assert kinds(planned) == [ActionKind.DONE]
    assert decision(planned).schedule.next_at == at(1) + timedelta(days=1)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("day", "occurrence"),
    [
        (
            datetime(2026, 3, 29, tzinfo=UTC),
            datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        ),  # 02:30 is skipped: 03:00 CEST
        (
            datetime(2026, 10, 25, tzinfo=UTC),
            datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        ),  # first 02:30 CEST
    ],
)
def test_daylight_saving_days_start_once(day: datetime, occurrence: datetime) -> None:
    desired = scheduled("30 2 * * *", schedule={"timezone": "Europe/Berlin"})
    planned = plan(desired, day.replace(hour=4), since=day)
    start = decision(planned).start
    assert start is not None
    assert start.desired.occurrence == occurrence
    assert not missed_times(planned)
    started = occurrence_record(desired, occurrence)
    later = plan(desired, day.replace(hour=12), since=day, records=[started])
    assert kinds(later) == [ActionKind.IN_PROGRESS]


def test_history_keeps_the_run_a_later_occurrence_replaced() -> None:
    desired = scheduled(schedule={"history": 2})
    before = occurrence_record(desired, at(10), RunStatus.SUCCEEDED)
    after = occurrence_record(desired, at(11), run_id="8")
    state = ScheduleState(since=at(9), keep=2)
    recorded = record_history({"orders": state}, {"orders": before}, {"orders": after})
    assert [(e.at, e.run_id, e.status) for e in recorded["orders"].history] == [
        (at(10), "7", RunStatus.SUCCEEDED)
    ]
    again = record_history(recorded, {"orders": before}, {"orders": after})
    assert again == recorded


def test_a_steady_schedule_leaves_its_state_as_it_is() -> None:
    """Nothing to record between occurrences: `watch` and timed applies write nothing."""
    desired = scheduled()
    running = occurrence_record(desired, at(10))
    for now in (at(10, 20), at(10, 50)):
        planned = plan(desired, now, since=at(9, 30), records=[running])
        assert planned.schedules == {"orders": ScheduleState(since=at(9, 30))}
