"""The planner's decisions for specs that run after others (``after``): wait, blocked, run
once per upstream success; a diamond, a chain across providers, scheduled pairs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reconciler.engine.actions import Action, ActionKind
from reconciler.engine.desired import DesiredRun
from reconciler.engine.plan import Planned, plan_actions
from reconciler.spec.dependencies import cycles, graph_problems
from reconciler.spec.runs import RunStatus, RunTraits, StopReason
from reconciler.state.model import Lockfile, RunRecord, ScheduleState
from tests.engine.test_plan import HOUR, NOW, record, spec


def upstream(name: str = "extract", **fields: Any) -> DesiredRun:
    return spec(name, {"cluster_id": 1, "package_id": 9}, **fields)


def downstream(*after: str, name: str = "load", **fields: Any) -> DesiredRun:
    return spec(name, after=list(after or ["extract"]), **fields)


def plan(
    desired: list[DesiredRun],
    records: Sequence[RunRecord] = (),
    now: datetime = NOW,
) -> Planned:
    lock = Lockfile(lineage="l", serial=1, runs={r.name: r for r in records})
    return plan_actions(desired, lock, {"etl": []}, now=now, prune=False)


def decision(planned: Planned, name: str = "load") -> Action:
    return next(a for a in planned.actions if a.name == name)


def ran(desired: DesiredRun, status: RunStatus = RunStatus.SUCCEEDED, **fields: Any) -> RunRecord:
    return record(desired, status, run_id=fields.pop("run_id", "7"), **fields)


@pytest.mark.parametrize(
    ("upstream_record", "kind", "reason"),
    [
        (None, ActionKind.WAIT, "after extract (no run yet)"),
        (RunStatus.PENDING, ActionKind.WAIT, "after extract (pending)"),
        (RunStatus.RUNNING, ActionKind.WAIT, "after extract (running)"),
        (RunStatus.FAILED, ActionKind.BLOCKED, "after extract (run 7 failed)"),
        (RunStatus.STOPPED, ActionKind.BLOCKED, "after extract (run 7 was stopped)"),
    ],
)
def test_a_downstream_waits_or_is_blocked_until_its_upstream_succeeded(
    upstream_record: RunStatus | None, kind: ActionKind, reason: str
) -> None:
    up = upstream()
    records = [ran(up, upstream_record)] if upstream_record else []
    action = decision(plan([up, downstream()], records))
    assert (action.kind, action.reason, action.start) == (kind, reason, None)


def test_a_failed_upstream_with_retries_left_is_waited_for() -> None:
    up = upstream(retry={"limit": 1})
    action = decision(plan([up, downstream()], [ran(up, RunStatus.FAILED)]))
    assert (action.kind, action.reason) == (
        ActionKind.WAIT,
        "after extract (run 7 failed; it is retried)",
    )


def test_an_upstream_that_missed_its_window_blocks() -> None:
    window = {"start": NOW - 3 * HOUR, "end": NOW - HOUR}
    action = decision(plan([upstream(window=window), downstream()]))
    assert (action.kind, action.reason) == (
        ActionKind.BLOCKED,
        "after extract (its window closed before a run started)",
    )


def test_a_stopped_upstream_blocks_and_stops_nothing_downstream() -> None:
    down = downstream()
    up = upstream(state="stopped")
    running = record(down.following({"extract": "x-1"}), RunStatus.RUNNING, run_id="8")
    action = decision(plan([up, down], [running]))
    assert (action.kind, action.reason) == (
        ActionKind.IN_PROGRESS,
        "run 8 is running; the next one is after extract (state: stopped)",
    )


def test_a_succeeded_upstream_starts_the_downstream_once() -> None:
    up, down = upstream(), downstream()
    done = ran(up)
    action = decision(plan([up, down], [done]))
    assert action.kind is ActionKind.START
    assert action.start is not None
    followed = action.start.desired
    assert followed.followed == {"extract": done.run_key}
    assert followed.key == down.following({"extract": done.run_key}).key != down.key
    # Once its run is recorded, nothing more: the same upstream run is not followed twice.
    after = record(followed, RunStatus.SUCCEEDED, run_id="8")
    again = decision(plan([up, down], [done, after]))
    assert (again.kind, again.reason) == (ActionKind.DONE, "run 8 succeeded")


def test_a_new_upstream_success_runs_the_downstream_again() -> None:
    up, down = upstream(), downstream()
    first = ran(up)
    followed = record(down.following({"extract": first.run_key}), RunStatus.SUCCEEDED, run_id="8")
    changed = upstream(rerun=1)
    waiting = decision(
        plan([changed, down], [ran(changed, RunStatus.RUNNING, run_id="9"), followed])
    )
    assert (waiting.kind, waiting.reason) == (ActionKind.WAIT, "after extract (running)")
    second = ran(changed, run_id="9")
    action = decision(plan([changed, down], [second, followed]))
    assert (action.kind, action.reason) == (ActionKind.START, "after extract run 9 succeeded")
    assert action.start is not None
    assert action.start.desired.followed == {"extract": second.run_key}


def test_a_diamond_waits_for_both_sides() -> None:
    a = upstream("a")
    b, c = downstream("a", name="b"), downstream("a", name="c")
    d = downstream("b", "c", name="d")
    done_a = ran(a)
    first = plan([a, b, c, d], [done_a])
    assert [decision(first, n).kind for n in "bcd"] == [
        ActionKind.START,
        ActionKind.START,
        ActionKind.WAIT,
    ]
    done_b = record(b.following({"a": done_a.run_key}), RunStatus.SUCCEEDED, run_id="b1")
    half = plan([a, b, c, d], [done_a, done_b])
    assert decision(half, "d").reason == "after c (no run yet)"
    done_c = record(c.following({"a": done_a.run_key}), RunStatus.RUNNING, run_id="c1")
    assert decision(plan([a, b, c, d], [done_a, done_b, done_c]), "d").reason == "after c (running)"
    done_c = done_c.model_copy(update={"status": RunStatus.SUCCEEDED})
    action = decision(plan([a, b, c, d], [done_a, done_b, done_c]), "d")
    assert action.kind is ActionKind.START
    assert action.start is not None
    assert action.start.desired.followed == {"b": done_b.run_key, "c": done_c.run_key}


def test_a_chain_across_four_providers() -> None:
    """Each link on another provider type: the rule does not look at providers."""
    keyless = RunTraits(keyed=False)
    links = [
        spec("extract", {"cluster_id": 1, "package_id": 9}),
        spec("patch", {"job_id": "j"}, after=["extract"], traits=keyless),
        spec("campaign", {"job_id": "v"}, after=["patch"]),
        spec("report", {"pipeline_id": "p"}, after=["campaign"], traits=keyless),
    ]
    records: list[RunRecord] = []
    for index, link in enumerate(links):
        planned = plan(links, records)
        kinds = [decision(planned, other.name).kind for other in links[index:]]
        assert kinds == [ActionKind.START, *[ActionKind.WAIT] * (len(links) - index - 1)]
        start = decision(planned, link.name).start
        assert start is not None
        records.append(record(start.desired, RunStatus.SUCCEEDED, run_id=f"r{index}"))
    assert all(a.kind is ActionKind.DONE for a in plan(links, records).actions)


def ran_an_hour_before(up: DesiredRun, at: datetime) -> Lockfile:
    """The state at ``at`` of scheduled ``extract`` and ``load``: extract's run of the
    occurrence an hour before succeeded; both schedules dealt with up to half an hour before."""
    earlier = record(up.for_occurrence(at - HOUR), RunStatus.SUCCEEDED).model_copy(
        update={"occurrence": at - HOUR}
    )
    return Lockfile(
        lineage="l",
        serial=1,
        runs={"extract": earlier},
        schedules={n: ScheduleState(since=at - timedelta(minutes=30)) for n in ("extract", "load")},
    )


def test_scheduled_specs_follow_the_same_occurrence() -> None:
    at = datetime(2026, 12, 2, 10, tzinfo=UTC)
    hourly = {"cron": "0 * * * *"}
    up = spec("extract", {"cluster_id": 1, "package_id": 9}, schedule=hourly)
    down = spec("load", schedule=hourly, after=["extract"])
    lock = ran_an_hour_before(up, at)
    planned = plan_actions(
        [up, down], lock, {"etl": []}, now=at + timedelta(minutes=5), prune=False
    )
    assert decision(planned).reason == "after extract (no run yet)"  # 09:00's run is not 10:00's
    current = record(up.for_occurrence(at), RunStatus.SUCCEEDED).model_copy(
        update={"occurrence": at}
    )
    lock = lock.model_copy(update={"runs": {"extract": current}})
    planned = plan_actions(
        [up, down], lock, {"etl": []}, now=at + timedelta(minutes=5), prune=False
    )
    action = decision(planned)
    assert action.kind is ActionKind.START
    assert action.start is not None
    assert action.start.desired.occurrence == at


@pytest.mark.parametrize("upstream_first", [True, False])
def test_an_upstream_that_missed_the_occurrence_blocks_it_downstream(
    upstream_first: bool,
) -> None:
    at = datetime(2026, 12, 2, 10, tzinfo=UTC)
    up = spec(
        "extract",
        {"cluster_id": 1, "package_id": 9},
        schedule={"cron": "0 * * * *", "starting_deadline": "5m"},
    )
    down = spec(
        "load", schedule={"cron": "0 * * * *", "starting_deadline": "30m"}, after=["extract"]
    )
    lock = ran_an_hour_before(up, at)
    specs = [up, down] if upstream_first else [down, up]
    at_5 = plan_actions(specs, lock, {"etl": []}, now=at + timedelta(minutes=4), prune=False)
    assert decision(at_5).kind is ActionKind.WAIT  # extract's 10:00 may still start
    at_10 = plan_actions(specs, lock, {"etl": []}, now=at + timedelta(minutes=10), prune=False)
    action = decision(at_10)
    assert (action.kind, action.reason) == (
        ActionKind.BLOCKED,
        "after extract (occurrence 2026-12-02 10:00 UTC missed: not started within 5m of its time)",
    )


def test_a_timed_out_upstream_blocks() -> None:
    up = upstream()
    timed_out = ran(up, RunStatus.STOPPED, stop_reason=StopReason.TIMEOUT)
    action = decision(plan([up, downstream()], [timed_out]))
    assert (action.kind, action.reason) == (ActionKind.BLOCKED, "after extract (run 7 failed)")


def test_graph_problems_name_unknown_self_and_every_cycle() -> None:
    after = {"a": ["b", "a", "zz"], "b": ["c"], "c": ["a"], "d": ["e"], "e": ["d"], "f": []}
    assert [(p.name, p.index, p.reason) for p in graph_problems(after)] == [
        ("a", 1, "a cannot run after itself"),
        ("a", 2, "no spec is named 'zz'"),
        ("a", None, "runs after itself through a -> c -> b -> a"),
        ("d", None, "runs after itself through d -> e -> d"),
    ]
    assert cycles({"x": ["y"], "y": []}) == []
