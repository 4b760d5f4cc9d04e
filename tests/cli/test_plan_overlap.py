"""`plan` lists the lockfile's scopes while the specs load, then the scopes only the specs
use (issue 20): a scope a new spec brings is still seen, and a bad spec is still told first."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.cli.test_large_repository import FILES, PER_FILE, write_specs
from tests.resilience.world import World


def _pipeline_spec(name: str, pipeline: str) -> str:
    return (
        f"apiVersion: reconciler/v1\nkind: JobRun\nmetadata: {{name: {name}}}\n"
        f"spec:\n  provider: elt\n  job: {{pipeline_id: {pipeline}}}\n  state: completed\n"
    )


@pytest.mark.timeout(120)
def test_a_scope_only_a_new_spec_uses_is_listed_after_the_lockfiles(tmp_path: Path) -> None:
    world = World(tmp_path, per_provider=0)
    try:
        (world.repo / "specs" / "a.yaml").write_text(_pipeline_spec("sync-a", "pipe-1"))
        done = world.run("apply", "--auto-approve")
        assert done.returncode == 0, done.stderr
        # A job of pipe-2 started outside reconciler: pipe-2 is busy (one job per pipeline).
        httpx.post(
            f"{world.url}/matatika/api/pipelines/pipe-2/jobs",
            headers={"Authorization": "Bearer mt"},
            json={},
        ).raise_for_status()
        (world.repo / "specs" / "b.yaml").write_text(_pipeline_spec("sync-b", "pipe-2"))
        done = world.run("plan", "--format", "json")
        assert done.returncode == 0, done.stderr
        plan = json.loads(done.stdout)
    finally:
        world.close()
    kinds = {a["name"]: a["kind"] for a in plan["actions"]}
    assert kinds == {"sync-a": "in-progress", "sync-b": "wait"}
    assert plan["refresh_calls"] == {"elt": 2}  # pipe-1 (from the lockfile), then pipe-2


@pytest.mark.timeout(120)
def test_a_bad_spec_is_told_and_nothing_is_planned(tmp_path: Path) -> None:
    world = World(tmp_path, per_provider=1)
    try:
        assert world.run("apply", "--auto-approve").returncode == 0
        (world.repo / "specs" / "bad.yaml").write_text(
            _pipeline_spec("Bad_Name", "pipe-9").replace("completed", "finished")
        )
        done = world.run("plan")
    finally:
        world.close()
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert [line.split(":")[:2] for line in lines] == [["Error", " specs/bad.yaml"]] * 2
    assert "Traceback" not in done.stderr


@pytest.mark.timeout(180)
def test_a_large_repository_is_read_by_other_processes_while_the_plan_lists(
    tmp_path: Path,
) -> None:
    """Files enough for several reading processes (all forked, the plan's own free to list):
    every spec planned; a problem in the first file and one in the last both told."""
    world = World(tmp_path, per_provider=0)
    try:
        files = write_specs(world.repo / "specs")
        done = world.run("plan", "--format", "json")
        assert done.returncode == 0, done.stderr
        starts = [a["name"] for a in json.loads(done.stdout)["actions"] if a["kind"] == "start"]
        assert len(starts) == FILES * PER_FILE
        for path, old, new in [
            (files[0], "package_id: 103", "package_id: many"),
            (files[-1], "state: completed", "state: finished"),
        ]:
            path.write_text(path.read_text().replace(old, new, 1))
        done = world.run("plan")
        # A lockfile that cannot be read is told as before, the reading processes stopped.
        (world.repo / "reconciler.lock").write_text("{")
        damaged = world.run("plan")
    finally:
        world.close()
    assert (done.returncode, done.stdout) == (1, ""), done.stderr
    lines = done.stderr.strip().splitlines()
    assert [line.split(":")[1] for line in lines] == [
        " specs/batch-000.yaml",
        f" specs/batch-{FILES - 1:03d}.yaml",
    ], lines
    assert (damaged.returncode, damaged.stdout) == (1, ""), damaged.stderr
    assert damaged.stderr.startswith("Error: reconciler.lock:1:2: invalid JSON"), damaged.stderr


def _runner_spec(name: str, job: str, rerun: int = 0) -> str:
    return (
        f"apiVersion: reconciler/v1\nkind: JobRun\nmetadata: {{name: {name}}}\n"
        f"spec:\n  provider: ctl\n  job: {{job_id: {job}}}\n  rerun: {rerun}\n"
    )


@pytest.mark.timeout(180)
def test_a_job_whose_runs_succeeded_is_not_listed_again(tmp_path: Path) -> None:
    """A Runner job definition is listed a call at a time: once every run of it succeeded and
    its spec asks for no more, listing it again tells nothing. A new revision lists it."""
    world = World(tmp_path, per_provider=0)
    try:
        for n in (1, 2):
            (world.repo / "specs" / f"p{n}.yaml").write_text(_runner_spec(f"p{n}", f"job-{n}"))
        assert world.run("apply", "--auto-approve").returncode == 0
        first = json.loads(world.run("plan", "--format", "json").stdout)
        world.advance(24 * 3600)  # both runs end
        done = world.run("apply", "--auto-approve")  # nothing to do: records their end
        assert (done.returncode, "No changes." in done.stdout) == (0, True), done.stdout
        settled = json.loads(world.run("plan", "--format", "json").stdout)
        (world.repo / "specs" / "p2.yaml").write_text(_runner_spec("p2", "job-2", rerun=1))
        bumped = json.loads(world.run("plan", "--format", "json").stdout)
    finally:
        world.close()
    # The login, then a listing per job definition listed.
    calls = [plan["refresh_calls"]["ctl"] for plan in (first, settled, bumped)]
    assert calls == [1 + 2, 0, 1 + 1]
    assert {a["name"]: a["kind"] for a in settled["actions"]} == {"p1": "done", "p2": "done"}
    assert {r["name"]: r["status"] for r in settled["records"].values()} == {
        "p1": "succeeded",
        "p2": "succeeded",
    }
    assert {a["name"]: a["kind"] for a in bumped["actions"]} == {"p1": "done", "p2": "start"}
