"""One provider failing does not stop the others; each failure is reported; exit code 1."""

from __future__ import annotations

import json

from reconciler.app.planning import apply_failures
from reconciler.engine.apply import ApplyResult
from tests.cli.test_four_providers import CONFIG, write_specs
from tests.cli.test_github import big_plan
from tests.cli.test_provenance import git
from tests.conftest import Repo


def test_unreachable_provider_leaves_its_specs_and_the_rest_proceeds(repo: Repo) -> None:
    (repo.root / "reconciler.yaml").write_text(CONFIG)
    write_specs(repo, "completed")
    seed = repo.root / "seed.yaml"
    seed.write_text("faults:\n  runner: {server_errors: 1.0}\n")  # every Runner call fails
    code, out, err = repo.run("--sandbox", "--sandbox-seed", str(seed), "plan")
    assert code == 1
    assert out.count(" + start ") == 3
    assert (
        "    ! not refreshed ctl: 1 spec(s) (runner-run): ctl (runner): login: Service Unavailable"
        in out
    )
    assert err.startswith(
        "Error: refresh of ctl failed, 1 spec(s) left as they are: ctl (runner): "
    )

    code, out, err = repo.run("--sandbox", "--sandbox-seed", str(seed), "apply", "--auto-approve")
    assert code == 1
    assert "Apply complete" not in out
    assert "\nApply incomplete: 3 started, 1 not refreshed; lockfile serial 1.\n" in out
    lock = json.loads((repo.root / "reconciler.lock").read_text())
    assert sorted(lock["runs"]) == ["matatika-run", "vonage-run", "xplenty-run"]
    assert "refresh of ctl failed" in err

    code, out, _ = repo.run("--sandbox", "apply", "--auto-approve")  # the provider is back
    assert (code, "Plan: 1 to start." in out) == (0, True)


def test_a_refused_start_is_reported_and_the_others_are_recorded(repo: Repo) -> None:
    (repo.root / "reconciler.yaml").write_text(CONFIG)
    write_specs(repo, "completed")
    seed = repo.root / "seed.yaml"
    seed.write_text("vonage:\n  jobs: {other-job: {}}\n")  # job-1 is unknown: 404 on start
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=Dev", "-c", "user.email=d@example.com", "commit", "-qm", "specs")
    code, out, err = repo.run(
        "--sandbox", "--sandbox-seed", str(seed), "apply", "--auto-approve", "--commit"
    )
    assert (code, out.count(": started run ")) == (1, 3)  # what did happen is shown
    refused = "start vonage-run: campaigns (vonage): Job job-1 was not found (HTTP 404)"
    assert err == f"Error: {refused}\n"
    lock = json.loads((repo.root / "reconciler.lock").read_text())
    assert sorted(lock["runs"]) == ["matatika-run", "runner-run", "xplenty-run"]
    assert all(r["run_id"] for r in lock["runs"].values())
    # What did happen is committed, and the message says what did not.
    message = git(repo, "log", "-1", "--format=%B").splitlines()
    assert message[0] == "reconciler: apply (3 start)"
    assert message[-2:] == ["Failed (see the apply's output):", f"- {refused}"]


def test_a_failure_many_actions_share_is_one_line_with_its_count() -> None:
    plan = big_plan(8)
    starts = list(plan.actions)
    result = ApplyResult(
        records={},
        failures=[(a, "POST /jobs: 401 Unauthorized") for a in starts[:7]]
        + [(starts[7], "POST /jobs: 422 cluster 1 is terminated")],
    )
    assert apply_failures(plan, result) == [
        "start failed for 7 specs (run-00000, run-00001, run-00002, run-00003, run-00004 and 2 "
        "more): POST /jobs: 401 Unauthorized",
        "start run-00007: POST /jobs: 422 cluster 1 is terminated",
    ]
