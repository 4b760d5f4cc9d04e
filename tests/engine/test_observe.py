"""The refresh: two listings of one plan (the lockfile's scopes while the specs load, then
the scopes only the specs use) read as one; a record is copied only when its run moved."""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.engine.observe import Observation
from reconciler.engine.records import with_observation
from reconciler.spec.runs import ObservedRun, RunStatus
from reconciler.state.model import RunRecord

EARLY = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LATER = datetime(2026, 12, 1, 9, 1, tzinfo=UTC)


def run(run_id: str, scope: str) -> ObservedRun:
    return ObservedRun(run_id, None, RunStatus.RUNNING, "RUNNING", scope=scope)


def test_runs_and_scopes_join_and_the_earlier_clock_bounds_the_next_listing() -> None:
    first = Observation(
        runs={"elt": [run("j1", "p1")], "etl": []},
        server_time={"elt": LATER, "etl": None},
        errors={},
        scopes={"elt": ["p1"], "etl": []},
    )
    later = Observation(
        runs={"elt": [run("j2", "p2"), run("j1", "p1")]},
        server_time={"elt": EARLY},
        errors={},
        scopes={"elt": ["p2"]},
    )
    merged = first.merged(later)
    assert {name: [r.run_id for r in runs] for name, runs in merged.runs.items()} == {
        "elt": ["j1", "j2"],
        "etl": [],
    }
    assert merged.scopes == {"elt": ["p1", "p2"], "etl": []}
    assert merged.server_time == {"elt": EARLY, "etl": None}
    assert merged.scope_runs() == {("elt", "p1"): ["j1"], ("elt", "p2"): ["j2"]}


def test_a_scope_listed_in_both_refreshes_is_as_old_as_the_older_listing() -> None:
    first = Observation(
        runs={"ctl": []},
        server_time={"ctl": None},
        errors={},
        scopes={"ctl": ["job-1", "job-2"]},
        listed_at={"ctl": {"job-1": 10.0, "job-2": 20.0}},
    )
    later = Observation(
        runs={"ctl": []},
        server_time={"ctl": None},
        errors={},
        scopes={"ctl": ["job-2", "job-3"]},
        listed_at={"ctl": {"job-2": 30.0, "job-3": 5.0}},
    )
    assert first.merged(later).scope_listed_at() == {
        ("ctl", "job-1"): 10.0,
        ("ctl", "job-2"): 20.0,
        ("ctl", "job-3"): 5.0,
    }


def test_an_instance_that_failed_in_either_refresh_is_failed() -> None:
    first = Observation(
        runs={"ctl": [run("e1", "job-1")]},
        server_time={"ctl": EARLY},
        errors={},
        scopes={"ctl": ["job-1"]},
    )
    later = Observation(runs={}, server_time={}, errors={"ctl": "HTTP 503"})
    merged = first.merged(later)
    assert (merged.runs, merged.errors, merged.scopes) == ({}, {"ctl": "HTTP 503"}, {})


def test_a_record_the_refresh_finds_unchanged_is_kept_as_it_is_not_copied() -> None:
    record = RunRecord(
        name="sync",
        instance="elt",
        provider_type="matatika",
        revision="r1",
        key="k1",
        attempt=1,
        run_id="j1",
        status=RunStatus.RUNNING,
        api_status="RUNNING",
        job={"pipeline_id": "p1"},
    )
    assert with_observation(record, run("j1", "p1")) is record
    ended = ObservedRun("j1", None, RunStatus.SUCCEEDED, "COMPLETE", ended_at=LATER, scope="p1")
    moved = with_observation(record, ended)
    assert (moved.status, moved.api_status, moved.ended_at) == (
        RunStatus.SUCCEEDED,
        "COMPLETE",
        LATER,
    )
