"""The composite action (action.yml) and the GitHub workflow template: their shell steps, run
as GitHub would run them, against the sandbox and a real git remote, with GitHub's own files
(summary, outputs) faked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.cli.test_push import Remote, git
from tests.resilience.world import World

ROOT = Path(__file__).parents[2]
ACTION = ROOT / "action.yml"
TEMPLATE = ROOT / "reconciler" / "templates" / "ci" / "github-actions.yml"


def step(step_id: str) -> dict[str, Any]:
    steps = YAML(typ="safe").load(ACTION.read_text())["runs"]["steps"]
    found: dict[str, Any] = next(s for s in steps if s.get("id") == step_id)
    return found


def run_step(
    found: dict[str, Any], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """As the runner runs a `shell: bash` step: `bash -e`, with the step's env."""
    assert found.get("shell", "bash") == "bash"  # a workflow's run steps default to bash
    step_env = {
        k: str(v).replace("${{ github.base_ref }}", "main") for k, v in found.get("env", {}).items()
    }
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", found["run"]],
        cwd=cwd,
        env={**env, **step_env},
        capture_output=True,
        text=True,
        check=False,
    )


def runner_env(world: World, github: Path) -> dict[str, str]:
    """The world's environment as a runner gives it to a step: reconciler on PATH, GitHub's
    own files (outputs, summary) in ``github``."""
    github.mkdir()
    return {
        **world.env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(github / "output"),
        "GITHUB_STEP_SUMMARY": str(github / "summary.md"),
    }


def test_the_action_plans_a_pull_request_and_applies_the_merge(tmp_path: Path) -> None:
    world = World(tmp_path, per_provider=1)
    try:
        remote = Remote(world)
        github = tmp_path / "github"
        env = runner_env(world, github)
        pull = remote.clone("pull")
        git(pull, "checkout", "-q", "-b", "more-runs")
        world.bump("etl-0")
        (pull / "specs" / "etl-0.yaml").write_text(
            (world.repo / "specs" / "etl-0.yaml").read_text()
        )
        git(pull, "commit", "-qam", "rerun etl-0")

        planned = run_step(step("plan"), pull, env)
        assert planned.returncode == 0, planned.stdout + planned.stderr
        assert (github / "output").read_text() == "exitcode=2\n"
        comment = (pull / "plan.md").read_text()
        assert comment.startswith("### reconciler plan: 4 to start")
        assert "### reconciler plan: 4 to start" in (github / "summary.md").read_text()

        git(pull, "push", "-q", "origin", "more-runs:main")  # merged
        merge = remote.clone("merge")
        applied = run_step(step("apply"), merge, env)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert "Apply complete: 4 started" in applied.stdout
        git(merge, "fetch", "-q")
        assert "reconciler.lock" in git(merge, "show", "--stat", "origin/main")
        assert sum(world.runs_per_spec().values()) == 4
    finally:
        world.close()


def template_steps(job: str) -> list[dict[str, Any]]:
    """The job's run steps past installing reconciler (the test's own is on PATH)."""
    steps = YAML(typ="safe").load(TEMPLATE.read_text())["jobs"][job]["steps"]
    return [s for s in steps if "run" in s and "pip install" not in s["run"]]


def test_the_workflow_template_runs_the_same_way(tmp_path: Path) -> None:
    world = World(tmp_path, per_provider=1)
    try:
        remote = Remote(world)
        github = tmp_path / "github"
        env = {**runner_env(world, github), "GITHUB_BASE_REF": "main"}
        pull = remote.clone("pull")
        for found in template_steps("plan"):
            done = run_step(found, pull, env)
            assert done.returncode == 0, (found["run"], done.stdout + done.stderr)
        assert (github / "output").read_text() == "exitcode=2\n"
        assert (pull / "plan.md").read_text().startswith("### reconciler plan: 4 to start")
        merge = remote.clone("merge")
        for found in template_steps("apply"):
            done = run_step(found, merge, env)
            assert done.returncode == 0, (found["run"], done.stdout + done.stderr)
        git(merge, "fetch", "-q")
        assert "reconciler.lock" in git(merge, "show", "--stat", "origin/main")
        assert sum(world.runs_per_spec().values()) == 4
    finally:
        world.close()
