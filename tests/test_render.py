"""Rendered plans, compared verbatim with golden files (UPDATE_GOLDEN=1 rewrites them)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.engine.plan import Plan, plan_actions
from reconciler.render import markdown, text
from reconciler.spec.runs import RunStatus
from reconciler.state.lockfile import Lockfile
from tests.engine.test_plan import NEW_JOB, NOW, OLD_JOB, observed, record, spec

GOLDEN = Path(__file__).parent / "data" / "plans"


def make_plan(case: str) -> Plan:
    if case == "changes":
        fresh = spec("fresh-run")
        changed_old = spec("changed-run", job=OLD_JOB)
        changed = spec("changed-run", job=NEW_JOB)
        stopping = spec("stopping-run", state="stopped")
        failing = spec("failing-run", retry={"limit": 1})
        steady = spec("steady-run")
        desired = [fresh, changed, stopping, failing, steady]
        records = [
            record(changed_old, run_id="11"),
            record(stopping, run_id="12"),
            record(failing, RunStatus.FAILED, run_id="13"),
            record(steady, run_id="14"),
            record(spec("removed-run"), RunStatus.SUCCEEDED, run_id="15"),
        ]
        unreachable = None
    elif case == "no-changes":
        steady = spec("steady-run")
        done = spec("done-run")
        desired = [steady, done]
        records = [record(steady, run_id="14"), record(done, RunStatus.SUCCEEDED, run_id="16")]
        unreachable = None
    else:  # "unreachable"
        desired = [spec("fresh-run")]
        records = []
        unreachable = {"etl": "etl (xplenty): GET /jobs: ConnectError"}
    lock = Lockfile(lineage="l", serial=3, runs={r.name: r for r in records})
    runs = [observed("14", None, RunStatus.RUNNING, started_at=NOW - timedelta(minutes=5))]
    planned = plan_actions(
        desired, lock, {"etl": runs}, now=NOW, prune=False, unreachable=unreachable
    )
    return Plan(
        reconciler_version="0.1.0",
        created_at=datetime(2026, 11, 22, 12, tzinfo=UTC),
        lineage="l",
        serial=3,
        lockfile_digest="l",
        specs_digest="d",
        prune=False,
        records=planned.records,
        actions=tuple(planned.actions),
        observed_at={"etl": None},
        refresh_calls={"etl": 3},
    )


@pytest.mark.parametrize("case", ["changes", "no-changes", "unreachable"])
@pytest.mark.parametrize(
    ("suffix", "render"), [("md", markdown.render_plan), ("txt", text.render_plan)]
)
def test_rendered_plan_matches_golden(case: str, suffix: str, render: object) -> None:
    rendered = render(make_plan(case)) + "\n"  # type: ignore[operator]
    golden = GOLDEN / f"{case}.{suffix}"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(rendered)
    assert rendered == golden.read_text()


def test_applied_actions_name_the_runs_they_started_and_stopped() -> None:
    plan = make_plan("changes")
    after = {
        "fresh-run": record(spec("fresh-run"), RunStatus.PENDING, run_id="21"),
        "changed-run": record(spec("changed-run", job=NEW_JOB), RunStatus.PENDING, run_id="22"),
        "stopping-run": record(spec("stopping-run"), RunStatus.STOPPING, run_id="12"),
        "failing-run": record(spec("failing-run"), RunStatus.PENDING, run_id="23"),
    }
    assert text.render_applied(plan.actions, after) == (
        "    + start       fresh-run     etl: started run 21 (pending)\n"
        "  -/+ replace     changed-run   etl: stop requested: run 11; started run 22 (pending)\n"
        "    - stop        stopping-run  etl: stop requested: run 12 (stopping)\n"
        "    + retry       failing-run   etl: started run 23 (pending)\n"
        "    x forget      removed-run   etl: record dropped"
    )
    # One run at a time (Matatika, Runner): the replace only stops, for now.
    after["changed-run"] = record(spec("changed-run"), RunStatus.STOPPING, run_id="11")
    replace = next(a for a in plan.actions if a.kind.value == "replace")
    assert text.render_applied([replace], after) == (
        "  -/+ replace     changed-run  etl: stop requested: run 11 (stopping); "
        "the new revision starts on a later apply"
    )
