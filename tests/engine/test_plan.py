"""The planner's decision table: one row per rule of DESIGN.md."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reconciler.engine.actions import Action, ActionKind, StartOrder, StopOrder
from reconciler.engine.desired import DesiredRun, desired_run
from reconciler.engine.plan import Planned, plan_actions
from reconciler.spec.models import JobRun
from reconciler.spec.runs import ObservedRun, RunStatus, RunTraits, StopReason
from reconciler.state.model import Lockfile, RunRecord

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def spec(
    name: str = "orders",
    job: dict[str, Any] | None = None,
    *,
    traits: RunTraits | None = None,
    scope: str | None = None,
    **fields: Any,
) -> DesiredRun:
    body = {"provider": "etl", "job": job or {"cluster_id": 1, "package_id": 2}, **fields}
    run = JobRun.model_validate(
        {"apiVersion": "reconciler/v1", "kind": "JobRun", "metadata": {"name": name}, "spec": body}
    )
    return desired_run(
        run,
        job=body["job"],
        provider_type="xplenty",
        file=f"specs/{name}.yaml",
        scope=scope,
        traits=traits,
    )


def record(
    desired: DesiredRun,
    status: RunStatus = RunStatus.RUNNING,
    *,
    run_id: str | None = "7",
    attempt: int = 1,
    failures: int = 0,
    stop_reason: StopReason | None = None,
    started: datetime | None = NOW - HOUR,
    prior_runs: list[str] | None = None,
) -> RunRecord:
    return RunRecord(
        name=desired.name,
        instance=desired.instance,
        provider_type=desired.provider_type,
        revision=desired.revision,
        key=desired.key,
        attempt=attempt,
        run_id=run_id,
        status=status,
        started_at=started,
        failures=failures,
        stop_reason=stop_reason,
        prevent_stop=desired.prevent_stop,
        job=desired.job,
        rerun=desired.rerun,
        window=desired.window,
        spec_file=desired.spec_file,
        scope=desired.scope,
        prior_runs=prior_runs,
    )


def observed(run_id: str, key: str | None, status: RunStatus, **fields: Any) -> ObservedRun:
    return ObservedRun(run_id=run_id, run_key=key, status=status, api_status=status.value, **fields)


def plan(
    desired: list[DesiredRun],
    records: list[RunRecord] = (),  # type: ignore[assignment]
    runs: list[ObservedRun] = (),  # type: ignore[assignment]
    *,
    prune: bool = False,
    now: datetime = NOW,
) -> Planned:
    lock = Lockfile(lineage="l", serial=1, runs={r.name: r for r in records})
    return plan_actions(desired, lock, {"etl": list(runs)}, now=now, prune=prune)


def start_of(action: Action) -> StartOrder:
    assert action.start is not None, action
    return action.start


def stop_of(action: Action) -> StopOrder:
    assert action.stop is not None, action
    return action.stop


def only(planned: Planned) -> tuple[ActionKind, str]:
    assert len(planned.actions) == 1, planned.actions
    action = planned.actions[0]
    return action.kind, action.reason


# -- state: completed --------------------------------------------------------------------

COMPLETED_CASES = [
    pytest.param(None, ActionKind.START, "new spec", id="absent-starts"),
    pytest.param(RunStatus.PENDING, ActionKind.IN_PROGRESS, "run 7 is pending", id="pending-waits"),
    pytest.param(RunStatus.RUNNING, ActionKind.IN_PROGRESS, "run 7 is running", id="running-waits"),
    pytest.param(
        RunStatus.UNKNOWN, ActionKind.IN_PROGRESS, "run 7 is unknown", id="unknown-is-active"
    ),
    pytest.param(RunStatus.SUCCEEDED, ActionKind.DONE, "run 7 succeeded", id="succeeded-done"),
    pytest.param(
        RunStatus.FAILED,
        ActionKind.FAILED,
        "run 7 failed; retries exhausted (0 of 0); bump rerun to try again",
        id="failed-no-retry",
    ),
]


@pytest.mark.parametrize(("status", "kind", "reason"), COMPLETED_CASES)
def test_state_completed(status: RunStatus | None, kind: ActionKind, reason: str) -> None:
    desired = spec()
    records = [record(desired, status)] if status else []
    assert only(plan([desired], records)) == (kind, reason)


def test_start_action_carries_what_apply_needs() -> None:
    desired = spec()
    action = plan([desired]).actions[0]
    assert (start_of(action).attempt, start_of(action).failures, start_of(action).desired) == (
        1,
        0,
        desired,
    )


# -- retry.limit ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failures", "kind", "reason"),
    [
        pytest.param(0, ActionKind.RETRY, "run 7 failed; retry 1 of 2", id="first-failure"),
        pytest.param(1, ActionKind.RETRY, "run 7 failed; retry 2 of 2", id="second-failure"),
        pytest.param(
            2,
            ActionKind.FAILED,
            "run 7 failed; retries exhausted (2 of 2); bump rerun to try again",
            id="exhausted",
        ),
    ],
)
def test_retry_limit(failures: int, kind: ActionKind, reason: str) -> None:
    desired = spec(retry={"limit": 2})
    planned = plan(
        [desired], [record(desired, RunStatus.FAILED, failures=failures, attempt=failures + 1)]
    )
    assert only(planned) == (kind, reason)
    if kind is ActionKind.RETRY:
        action = planned.actions[0]
        assert (start_of(action).attempt, start_of(action).failures) == (failures + 2, failures + 1)


# -- state: running ------------------------------------------------------------------------


def test_running_restarts_after_success_and_resets_failures() -> None:
    desired = spec(state="running")
    planned = plan([desired], [record(desired, RunStatus.SUCCEEDED, attempt=3, failures=1)])
    assert only(planned) == (ActionKind.START, "run 7 ended (state: running)")
    assert (start_of(planned.actions[0]).attempt, start_of(planned.actions[0]).failures) == (4, 0)


def test_running_retries_failure_within_limit() -> None:
    desired = spec(state="running", retry={"limit": 1})
    assert only(plan([desired], [record(desired, RunStatus.FAILED)]))[0] is ActionKind.RETRY


def test_running_keeps_an_active_run() -> None:
    desired = spec(state="running")
    assert only(plan([desired], [record(desired)]))[0] is ActionKind.IN_PROGRESS


# -- state: stopped ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "prevent_stop", "kind"),
    [
        pytest.param(None, False, ActionKind.DONE, id="absent-nothing-to-do"),
        pytest.param(RunStatus.RUNNING, False, ActionKind.STOP, id="running-stops"),
        pytest.param(RunStatus.PENDING, False, ActionKind.STOP, id="pending-stops"),
        pytest.param(RunStatus.STOPPING, False, ActionKind.IN_PROGRESS, id="stopping-waits"),
        pytest.param(RunStatus.STOPPED, False, ActionKind.DONE, id="stopped-done"),
        pytest.param(RunStatus.SUCCEEDED, False, ActionKind.DONE, id="succeeded-done"),
        pytest.param(RunStatus.RUNNING, True, ActionKind.DRIFT, id="prevent-stop-refuses"),
    ],
)
def test_state_stopped(status: RunStatus | None, prevent_stop: bool, kind: ActionKind) -> None:
    desired = spec(state="stopped", prevent_stop=prevent_stop)
    planned = plan([desired], [record(desired, status)] if status else [])
    assert only(planned)[0] is kind
    if kind is ActionKind.STOP:
        assert stop_of(planned.actions[0]).reason is StopReason.SPEC
        assert stop_of(planned.actions[0]).run_id == "7"


def test_stopped_by_spec_then_asked_again_starts_next_attempt() -> None:
    desired = spec()
    planned = plan([desired], [record(desired, RunStatus.STOPPED, stop_reason=StopReason.SPEC)])
    assert only(planned) == (ActionKind.START, "run 7 was stopped; spec asks for a run again")
    assert start_of(planned.actions[0]).attempt == 2


def test_stopped_outside_reconciler_is_drift_not_a_restart() -> None:
    desired = spec()
    assert only(plan([desired], [record(desired, RunStatus.STOPPED)])) == (
        ActionKind.DRIFT,
        "run 7 was stopped outside reconciler; bump rerun to start again",
    )


# -- concurrency: the spec changed while its run is active ----------------------------------

OLD_JOB = {"cluster_id": 1, "package_id": 2, "variables": {"START": "'a'"}}
NEW_JOB = {"cluster_id": 1, "package_id": 2, "variables": {"START": "'b'"}}


@pytest.mark.parametrize(
    ("policy", "prevent_stop", "kind"),
    [
        pytest.param("replace", False, ActionKind.REPLACE, id="replace"),
        pytest.param("forbid", False, ActionKind.WAIT, id="forbid"),
        pytest.param("allow", False, ActionKind.START, id="allow"),
        pytest.param("replace", True, ActionKind.WAIT, id="replace-with-prevent-stop-waits"),
    ],
)
def test_concurrency_policy(policy: str, prevent_stop: bool, kind: ActionKind) -> None:
    old = spec(job=OLD_JOB)
    new = spec(job=NEW_JOB, concurrency=policy, prevent_stop=prevent_stop)
    planned = plan([new], [record(old)])
    action = planned.actions[0]
    assert len(planned.actions) == 1
    assert action.kind is kind
    assert [(c.path, c.old, c.new) for c in action.changes] == [
        ("job.variables.START", "'a'", "'b'")
    ]
    if kind is ActionKind.REPLACE:
        assert (stop_of(action).run_id, stop_of(action).reason, start_of(action).attempt) == (
            "7",
            StopReason.REPLACE,
            1,
        )


def test_changed_spec_with_ended_run_starts_fresh_revision() -> None:
    old = spec(job=OLD_JOB)
    new = spec(job=NEW_JOB)
    planned = plan([new], [record(old, RunStatus.SUCCEEDED, attempt=3)])
    action = planned.actions[0]
    assert (action.kind, action.reason, start_of(action).attempt) == (
        ActionKind.START,
        "spec changed",
        1,
    )
    assert action.changes[0].path == "job.variables.START"


def test_rerun_bump_is_a_new_revision() -> None:
    old = spec()
    new = spec(rerun=1)
    assert old.key != new.key
    action = plan([new], [record(old, RunStatus.SUCCEEDED)]).actions[0]
    assert action.kind is ActionKind.START
    assert [(c.path, c.old, c.new) for c in action.changes] == [("rerun", 0, 1)]


def test_labels_retry_and_state_are_not_part_of_the_revision() -> None:
    base = spec()
    assert spec(state="running", retry={"limit": 3}).key == base.key


def test_new_revision_with_state_stopped_stops_the_old_run() -> None:
    old = spec(job=OLD_JOB)
    new = spec(job=NEW_JOB, state="stopped")
    assert only(plan([new], [record(old)])) == (ActionKind.STOP, "state: stopped")


# -- timeout and window --------------------------------------------------------------------


def test_timeout_stops_an_overdue_run() -> None:
    desired = spec(timeout="30m")
    planned = plan([desired], [record(desired, started=NOW - HOUR)])
    assert only(planned) == (ActionKind.STOP, "timeout: active for more than 1800s")
    assert stop_of(planned.actions[0]).reason is StopReason.TIMEOUT


def test_timeout_not_reached_keeps_waiting() -> None:
    desired = spec(timeout="2h")
    assert only(plan([desired], [record(desired, started=NOW - HOUR)]))[0] is ActionKind.IN_PROGRESS


def test_timed_out_run_counts_as_failure_for_retry() -> None:
    desired = spec(timeout="30m", retry={"limit": 1})
    stopped = record(desired, RunStatus.STOPPED, stop_reason=StopReason.TIMEOUT)
    assert only(plan([desired], [stopped])) == (ActionKind.RETRY, "run 7 timed out; retry 1 of 1")


WINDOW = {"start": "2026-11-22T13:00:00Z", "end": "2026-11-22T15:00:00Z"}


@pytest.mark.parametrize(
    ("now", "kind", "reason"),
    [
        pytest.param(
            NOW, ActionKind.WAIT, "window opens at 2026-11-22T13:00:00+00:00", id="before"
        ),
        pytest.param(NOW + 2 * HOUR, ActionKind.START, "new spec", id="inside"),
        pytest.param(
            NOW + 4 * HOUR,
            ActionKind.MISSED,
            "window closed at 2026-11-22T15:00:00+00:00 before any run started",
            id="after",
        ),
    ],
)
def test_window(now: datetime, kind: ActionKind, reason: str) -> None:
    assert only(plan([spec(window=WINDOW)], now=now)) == (kind, reason)


def test_window_closed_after_a_run_of_a_running_spec_is_done() -> None:
    desired = spec(state="running", window=WINDOW)
    ended = record(desired, RunStatus.SUCCEEDED)
    planned = plan([desired], [ended], now=NOW + 4 * HOUR)
    assert only(planned) == (ActionKind.DONE, "window closed at 2026-11-22T15:00:00+00:00")


def test_running_spec_is_stopped_when_its_window_closes() -> None:
    desired = spec(state="running", window=WINDOW)
    planned = plan([desired], [record(desired)], now=NOW + 4 * HOUR)
    assert only(planned) == (ActionKind.STOP, "window closed")
    assert stop_of(planned.actions[0]).reason is StopReason.WINDOW


# -- removed specs: prune, prevent_stop, forget --------------------------------------------


@pytest.mark.parametrize(
    ("status", "prune", "prevent_stop", "kind"),
    [
        pytest.param(RunStatus.RUNNING, True, False, ActionKind.STOP, id="prune-stops"),
        pytest.param(RunStatus.RUNNING, False, False, ActionKind.ORPHAN, id="no-prune-orphan"),
        pytest.param(RunStatus.RUNNING, True, True, ActionKind.ORPHAN, id="prevent-stop-kept"),
        pytest.param(RunStatus.STOPPING, True, False, ActionKind.IN_PROGRESS, id="stopping"),
        pytest.param(RunStatus.SUCCEEDED, False, False, ActionKind.FORGET, id="ended-forget"),
        pytest.param(RunStatus.STOPPED, True, False, ActionKind.FORGET, id="stopped-forget"),
    ],
)
def test_removed_spec(status: RunStatus, prune: bool, prevent_stop: bool, kind: ActionKind) -> None:
    gone = record(spec("gone", prevent_stop=prevent_stop), status)
    planned = plan([], [gone], prune=prune)
    assert only(planned)[0] is kind
    if kind is ActionKind.STOP:
        assert stop_of(planned.actions[0]).reason is StopReason.PRUNE


# -- refresh, adopt by key, unconfirmed starts ----------------------------------------------


def test_refresh_takes_the_providers_status() -> None:
    desired = spec()
    planned = plan([desired], [record(desired)], [observed("7", None, RunStatus.SUCCEEDED)])
    assert only(planned)[0] is ActionKind.DONE
    assert planned.records["orders"].status is RunStatus.SUCCEEDED


def test_unlisted_run_keeps_its_recorded_status() -> None:
    desired = spec()
    planned = plan([desired], [record(desired)], [observed("99", None, RunStatus.SUCCEEDED)])
    assert planned.records["orders"].status is RunStatus.RUNNING


def test_adopts_a_run_found_by_key_instead_of_starting_again() -> None:
    desired = spec()
    run = observed("42", f"{desired.key}-2", RunStatus.RUNNING, started_at=NOW)
    planned = plan([desired], [], [run, observed("41", f"{desired.key}-1", RunStatus.FAILED)])
    assert only(planned) == (ActionKind.ADOPT, "found at the provider by its run key")
    adopted = planned.records["orders"]
    assert (adopted.run_id, adopted.attempt, adopted.status) == ("42", 2, RunStatus.RUNNING)


def test_runs_of_other_keys_are_not_adopted() -> None:
    desired = spec()
    other = spec("other")
    planned = plan([desired], [], [observed("42", f"{other.key}-1", RunStatus.RUNNING)])
    assert only(planned)[0] is ActionKind.START


def test_unconfirmed_start_is_completed_from_the_run_carrying_its_key() -> None:
    desired = spec()
    intent = record(desired, RunStatus.UNKNOWN, run_id=None, attempt=2)
    planned = plan([desired], [intent], [observed("43", f"{desired.key}-2", RunStatus.PENDING)])
    assert only(planned) == (ActionKind.IN_PROGRESS, "run 43 is pending")


def test_unconfirmed_start_with_no_run_found_starts_the_same_attempt() -> None:
    desired = spec()
    intent = record(desired, RunStatus.UNKNOWN, run_id=None, attempt=2, failures=1)
    action = plan([desired], [intent]).actions[0]
    assert (action.kind, start_of(action).attempt, start_of(action).failures) == (
        ActionKind.START,
        2,
        1,
    )


# -- APIs whose runs cannot carry our key: adopt by the intent's snapshot -------------------

KEYLESS = RunTraits(keyed=False)


def keyless(name: str = "orders", scope: str = "job-1", **fields: Any) -> DesiredRun:
    return spec(name, traits=KEYLESS, scope=scope, **fields)


def in_scope(
    run_id: str, status: RunStatus = RunStatus.RUNNING, scope: str = "job-1"
) -> ObservedRun:
    return observed(run_id, None, status, scope=scope)


def test_keyless_unconfirmed_start_adopts_the_one_new_run() -> None:
    desired = keyless()
    intent = record(desired, RunStatus.UNKNOWN, run_id=None, prior_runs=["e1"])
    planned = plan([desired], [intent], [in_scope("e1", RunStatus.SUCCEEDED), in_scope("e2")])
    assert only(planned) == (ActionKind.IN_PROGRESS, "run e2 is running")
    assert planned.records["orders"].run_id == "e2"
    assert planned.records["orders"].prior_runs is None


def test_keyless_never_guesses_between_several_new_runs() -> None:
    desired = keyless()
    intent = record(desired, RunStatus.UNKNOWN, run_id=None, prior_runs=[])
    kind, reason = only(plan([desired], [intent], [in_scope("e1"), in_scope("e2")]))
    assert kind is ActionKind.DRIFT
    assert reason == (
        "an interrupted start left 2 new runs on job-1 (e1, e2) and runs there cannot "
        "carry our key: not guessing which is ours"
    )


def test_keyless_runs_claimed_by_other_records_are_not_adopted() -> None:
    mine, other = keyless("mine"), keyless("other")
    intent = record(mine, RunStatus.UNKNOWN, run_id=None, prior_runs=[])
    theirs = record(other, run_id="e1")
    planned = plan([mine, other], [intent, theirs], [in_scope("e1"), in_scope("e2")])
    assert planned.records["mine"].run_id == "e2"


def test_keyless_adoption_settles_several_intents_in_one_plan() -> None:
    first, second = keyless("first"), keyless("second")
    one = record(first, RunStatus.UNKNOWN, run_id=None, prior_runs=[])  # sees e1 and e2 as new
    two = record(second, RunStatus.UNKNOWN, run_id=None, prior_runs=["e1"])  # sees only e2
    planned = plan([first, second], [one, two], [in_scope("e1"), in_scope("e2")])
    assert (planned.records["first"].run_id, planned.records["second"].run_id) == ("e1", "e2")


def test_keyless_runs_are_not_adopted_by_key_or_from_other_scopes() -> None:
    desired = keyless()
    intent = record(desired, RunStatus.UNKNOWN, run_id=None, prior_runs=[])
    planned = plan([desired], [intent], [in_scope("e9", scope="job-2")])
    assert only(planned)[0] is ActionKind.START
    assert plan([keyless()], [], [in_scope("e9")]).actions[0].kind is ActionKind.START


# -- one active run per scope (a pipeline) ---------------------------------------------------

EXCLUSIVE = RunTraits(keyed=False, exclusive_scope=True)


def test_exclusive_scope_waits_for_a_foreign_active_run() -> None:
    desired = spec(traits=EXCLUSIVE, scope="pipeline-7")
    planned = plan([desired], [], [in_scope("j1", scope="pipeline-7")])
    assert only(planned) == (
        ActionKind.WAIT,
        "pipeline-7 is busy with run j1 (not started by reconciler); one run at a time",
    )


def test_exclusive_scope_names_the_spec_holding_the_scope() -> None:
    mine = spec("mine", traits=EXCLUSIVE, scope="p")
    other = spec("other", traits=EXCLUSIVE, scope="p")
    planned = plan([mine, other], [record(other, run_id="j1")], [in_scope("j1", scope="p")])
    assert planned.actions[0].reason == "p is busy with run j1 (of spec other); one run at a time"


def test_exclusive_scope_replace_stops_first_and_starts_later() -> None:
    old = spec(job=OLD_JOB, traits=EXCLUSIVE, scope="p")
    new = spec(job=NEW_JOB, traits=EXCLUSIVE, scope="p")
    planned = plan([new], [record(old, run_id="j1")], [in_scope("j1", scope="p")])
    action = planned.actions[0]
    assert (action.kind, stop_of(action).run_id, stop_of(action).reason) == (
        ActionKind.STOP,
        "j1",
        StopReason.REPLACE,
    )
    stopped = record(old, RunStatus.STOPPED, run_id="j1", stop_reason=StopReason.REPLACE)
    after = plan([new], [stopped], [in_scope("j1", RunStatus.STOPPED, scope="p")])
    assert only(after)[0] is ActionKind.START


# -- windows the API schedules itself (startAt/endAt) ----------------------------------------

SCHEDULED = RunTraits(schedules_window=True)


def test_api_scheduled_window_starts_before_it_opens() -> None:
    assert only(plan([spec(traits=SCHEDULED, window=WINDOW)]))[0] is ActionKind.START


def test_api_scheduled_window_is_not_stopped_by_us_at_its_end() -> None:
    desired = spec(traits=SCHEDULED, window=WINDOW, state="running")
    planned = plan([desired], [record(desired)], now=NOW + 4 * HOUR)
    assert only(planned) == (ActionKind.IN_PROGRESS, "run 7 is ending")


def test_exclusive_scope_allow_waits_instead_of_stopping() -> None:
    old = spec(job=OLD_JOB, traits=EXCLUSIVE, scope="p")
    new = spec(job=NEW_JOB, traits=EXCLUSIVE, scope="p", concurrency="allow")
    planned = plan([new], [record(old, run_id="j1")], [in_scope("j1", scope="p")])
    assert only(planned) == (
        ActionKind.WAIT,
        "spec changed; waiting for run j1 to end (concurrency: allow, but one run at a time here)",
    )
