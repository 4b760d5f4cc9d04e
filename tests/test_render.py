"""Rendered plans, compared verbatim with golden files (UPDATE_GOLDEN=1 rewrites them)."""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest

from reconciler.app.show import ShowRow
from reconciler.commands.plan import PLAN_ENTRIES
from reconciler.engine.actions import Plan
from reconciler.engine.plan import plan_actions
from reconciler.gitops import commit_message
from reconciler.render import markdown, text
from reconciler.render.style import Style, wanted
from reconciler.spec.runs import RunFailure, RunStatus
from reconciler.state.document import dump_json, json_chunks
from reconciler.state.model import Lockfile, ScheduleState
from tests.engine.test_plan import NEW_JOB, NOW, OLD_JOB, observed, record, spec
from tests.plans import plan_of

GOLDEN = Path(__file__).parent / "data" / "plans"
# A provider's message or a job value that tries every medium: markdown (code span, HTML,
# details, mention, issue, link, image, table), terminals (CSI, OSC 8 link, C1, bidi, BEL, CR)
# and commit messages (a trailer on a line of its own).
HOSTILE = (
    "`x` </details><img src=x onerror=alert(1)> @org/team #12 [a](http://e) ![i](http://e/i)"
    " | \x1b[2J\x1b]8;;http://e\x1b\\link\x1b]8;;\x1b\\ \x9b31m \u202eevil\u202c \x07\r\x08"
    "\n\nCo-authored-by: x <y@z>"
)
HOSTILE_RUN_ID = "7\x1b[2J\u202e`@org`"


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
    elif case == "hostile":  # what a provider or a job value could hold: see HOSTILE
        changed = spec("changed-run", job={**OLD_JOB, "variables": {"START": HOSTILE}})
        failing = spec("failing-run", retry={"limit": 1})
        desired = [changed, failing, spec("other-run", provider="bad")]
        records = [
            record(spec("changed-run", job=OLD_JOB), run_id=HOSTILE_RUN_ID),
            # The provider's account of the failure, as the lockfile keeps it (one line).
            record(failing, RunStatus.FAILED, run_id=HOSTILE_RUN_ID).model_copy(
                update={"failure": RunFailure("job failed", HOSTILE).summary()}
            ),
        ]
        unreachable = {"bad": f"bad (xplenty): {HOSTILE}"}
    elif case == "after-and-schedules":  # a diamond part-way, a schedule that missed two
        extract = spec("extract", job={"cluster_id": 1, "package_id": 9})
        left, right = spec("left", after=["extract"]), spec("right", after=["extract"])
        report = spec("report", after=["left", "right"])
        nightly = spec(
            "nightly",
            job={"cluster_id": 1, "package_id": 8},
            schedule={
                "cron": "0 2 * * *",
                "timezone": "Europe/Berlin",
                "starting_deadline": "1h",
            },
        )
        desired = [extract, left, right, report, nightly]
        extracted = record(extract, RunStatus.SUCCEEDED, run_id="1")
        records = [
            extracted,
            record(left.following({"extract": extracted.run_key}), RunStatus.FAILED, run_id="2"),
        ]
        unreachable = None
    else:  # "unreachable": one line for the instance, however many specs it leaves
        desired = [spec(f"run-{n}") for n in range(7)]
        records = []
        unreachable = {"etl": "etl (xplenty): GET /jobs: cannot connect"}
    schedules = {"nightly": ScheduleState(since=NOW - timedelta(days=2, hours=1))}
    lock = Lockfile(lineage="l", serial=3, runs={r.name: r for r in records}, schedules=schedules)
    runs = [observed("14", None, RunStatus.RUNNING, started_at=NOW - timedelta(minutes=5))]
    planned = plan_actions(
        desired, lock, {"etl": runs}, now=NOW, prune=False, unreachable=unreachable
    )
    return plan_of(
        planned,
        lock,
        datetime(2026, 11, 22, 12, tzinfo=UTC),
        reconciler_version="0.1.0",
        after={d.name: d.after for d in desired if d.after},
        missed_occurrences=sum(len(a.schedule.missed) for a in planned.actions if a.schedule),
        observed_at={"etl": None},
        refresh_calls={"etl": 3, **({"bad": 1} if case == "hostile" else {})},
    )


@pytest.mark.parametrize(
    "case", ["changes", "no-changes", "unreachable", "hostile", "after-and-schedules"]
)
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


def test_applied_actions_escape_the_run_ids_a_provider_gave() -> None:
    plan = make_plan("hostile")
    retry = next(a for a in plan.actions if a.kind.value == "retry")
    after = {"failing-run": record(spec("failing-run"), RunStatus.PENDING, run_id=HOSTILE_RUN_ID)}
    assert text.render_applied([retry], after) == (
        "    + retry       failing-run  etl: started run 7\\x1b[2J\\u202e`@org` (pending)"
    )


def hostile_row(name: str) -> ShowRow:
    return ShowRow(
        name=name,
        instance="etl",
        run_id=HOSTILE_RUN_ID,
        attempt=1,
        recorded="running",
        live="running",
        api_status="\x9b2J\rRUNNING",
        started_at=None,
        spec_file="specs/\x1b]0;title\x07.yaml",
        details="recipients 1\n\x1b[31mdelivered 9\u2066",
        commit="abc",
        revision="r1",
        run_key="k-1",
    )


def test_show_escapes_statuses_details_and_paths_and_aligns_the_escaped_cells() -> None:
    assert text.render_show([hostile_row("a-run"), hostile_row("b")]) == (
        "NAME   INSTANCE  RUN                   ATTEMPT  RECORDED  LIVE     "
        "API STATUS       STARTED  DETAILS\n"
        "a-run  etl       7\\x1b[2J\\u202e`@org`  1        running   running  "
        "\\x9b2J\\rRUNNING  -        recipients 1\\n\\x1b[31mdelivered 9\\u2066\n"
        "b      etl       7\\x1b[2J\\u202e`@org`  1        running   running  "
        "\\x9b2J\\rRUNNING  -        recipients 1\\n\\x1b[31mdelivered 9\\u2066"
    )
    assert text.render_run(hostile_row("a-run")).splitlines()[1:5] == [
        "spec file          specs/\\x1b]0;title\\x07.yaml",
        "started by commit  abc",
        "instance           etl",
        "run                7\\x1b[2J\\u202e`@org`",
    ]
    assert text.render_run(hostile_row("a-run")).splitlines()[-1] == (
        "details            recipients 1\\n\\x1b[31mdelivered 9\\u2066"
    )


def test_commit_message_keeps_each_value_to_its_line() -> None:
    plan = make_plan("hostile")
    message = commit_message(plan, list(plan.actions), failures=[f"stop x: {HOSTILE}"])
    assert message.splitlines()[2:] == [
        "- replace changed-run: spec changed; stop run 7\\x1b[2J\\u202e`@org`, then start",
        "- retry failing-run: run 7\\x1b[2J\\u202e`@org` failed (job failed: `x` </details><img "
        "src=x onerror=alert(1)> @org/team #12 [a](http://e) ![i](http://e/i) | [2J ]8;;http://e "
        "\\link ]8;; \\ 31m evil Co-authored-by: x <y@z>); retry 1 of 1",
        "",
        "Failed (see the apply's output):",
        "- stop x: `x` </details><img src=x onerror=alert(1)> @org/team #12 [a](http://e) "
        "![i](http://e/i) | \\x1b[2J\\x1b]8;;http://e\\x1b\\link\\x1b]8;;\\x1b\\ \\x9b31m "
        "\\u202eevil\\u202c \\x07\\r\\x08\\n\\nCo-authored-by: x <y@z>",
    ]


@pytest.mark.parametrize("case", ["changes", "hostile"])
def test_coloured_plan_matches_golden_and_colours_only_our_own_words(case: str) -> None:
    rendered = text.render_plan(make_plan(case), style=Style(enabled=True)) + "\n"
    golden = GOLDEN / f"{case}.color.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(rendered)
    assert rendered == golden.read_text()
    plain = text.render_plan(make_plan(case)) + "\n"
    assert click.unstyle(rendered) == plain  # the same text, with colour around our words only


@pytest.mark.parametrize(
    ("environ", "no_color", "is_terminal", "colour"),
    [
        ({}, False, True, True),
        ({}, False, False, False),
        ({}, True, True, False),
        ({"NO_COLOR": "1"}, False, True, False),
        ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, False, False, False),
        ({"FORCE_COLOR": "1"}, False, False, True),
        ({"FORCE_COLOR": "0"}, False, True, False),
        ({"NO_COLOR": ""}, False, True, True),
    ],
)
def test_colour_is_on_for_terminals_and_as_no_color_and_force_color_say(
    environ: dict[str, str], no_color: bool, is_terminal: bool, colour: bool
) -> None:
    assert wanted(environ, no_color=no_color, is_terminal=is_terminal) is colour


def test_show_details_join_failure_progress_and_the_providers_account() -> None:
    failed = dataclasses.replace(
        hostile_row("a-run"), details=None, failure="job failed: <b>\\x1b</b>", live="failed"
    )
    going = dataclasses.replace(
        hostile_row("b"), details="recipients 3", progress="42% done, 1m3s elapsed"
    )
    table = text.render_show([failed, going]).splitlines()
    assert table[1].endswith("  job failed: <b>\\x1b</b>")
    assert table[2].endswith("  42% done, 1m3s elapsed; recipients 3")
    assert text.render_run(failed).splitlines()[-1] == "failure            job failed: <b>\\x1b</b>"
    assert text.render_run(going).splitlines()[-2:] == [
        "progress           42% done, 1m3s elapsed",
        "details            recipients 3",
    ]


@pytest.mark.parametrize(
    "case", ["changes", "no-changes", "unreachable", "hostile", "after-and-schedules"]
)
def test_the_json_plan_written_an_entry_at_a_time_is_the_whole_dump(case: str) -> None:
    plan = make_plan(case)
    assert "".join(json_chunks(plan, PLAN_ENTRIES)) == dump_json(plan)
    for batch in (1, 2, 3):  # entries in batches of a few, across their boundaries
        assert "".join(json_chunks(plan, PLAN_ENTRIES, batch=batch)) == dump_json(plan)
    empty = plan.model_copy(update={"records": {}, "actions": ()})
    assert "".join(json_chunks(empty, PLAN_ENTRIES)) == dump_json(empty)
