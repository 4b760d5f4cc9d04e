"""In GitHub Actions: problems become annotations on the lines they name, the plan goes to the
job's summary, and the pull-request comment stays under GitHub's size limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.engine.actions import Plan
from reconciler.engine.plan import plan_actions
from reconciler.render import markdown
from reconciler.state.model import Lockfile
from tests.conftest import Repo, jobrun
from tests.engine.test_plan import NOW, spec
from tests.plans import plan_of

ACTIONS = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/specs",
    "GITHUB_RUN_ID": "42",
}


def test_problems_are_annotations_on_their_lines(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ACTIONS.items():
        monkeypatch.setenv(name, value)
    # A value made to end the command and start another: it stays inside the message.
    repo.spec("a.yaml", jobrun("a", extra="timeout: 0s\n") + "---\n" + jobrun("b", package=0))
    code, out, err = repo.run("validate")
    assert (code, out) == (1, "")
    assert err.splitlines()[-2:] == [
        "::error file=specs/a.yaml,line=11,col=3,title=reconciler::spec.timeout: must be "
        "longer than 0s",
        "::error file=specs/a.yaml,line=21,col=5,title=reconciler::spec.job.package_id: more "
        "than 0",
    ]
    assert err.count("Error: ") == 2  # the usual lines, as well


def test_an_error_naming_no_file_is_annotated_too(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    code, out, err = repo.run("show", "--offline", "nothing%\nhere")
    assert (code, out) == (1, "")
    assert err.endswith(
        "::error title=reconciler::the lockfile records no run for 'nothing%25\\nhere'\n"
    )


def test_a_failed_refresh_leaves_the_saved_markdown_plan_clean(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`plan --format markdown > plan.md` is the comment: annotations go to stderr."""
    for name, value in ACTIONS.items():
        monkeypatch.setenv(name, value)
    (repo.root / "seed.yaml").write_text(
        "faults: {xplenty: {server_errors: 1.0, retry_after: 0}}\n"
    )
    repo.spec("a.yaml", jobrun("a"))
    code, out, err = repo.run(
        "--sandbox", "--sandbox-seed", "seed.yaml", "plan", "--format", "markdown"
    )
    assert code == 1, out + err
    assert out.startswith("### reconciler plan")
    assert "::error" not in out
    assert "::error title=reconciler::" in err


def test_the_plan_goes_to_the_job_summary(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    for name, value in {**ACTIONS, "GITHUB_STEP_SUMMARY": str(summary)}.items():
        monkeypatch.setenv(name, value)
    repo.spec("a.yaml", jobrun("a"))
    code, out, _ = repo.run("--sandbox", "plan", "--format", "markdown")
    assert code == 0
    page = summary.read_text()
    assert page.startswith("earlier step\n### reconciler plan: 1 to start")
    assert "| **start** | `a` | etl | new spec |  |" in page
    assert out.startswith("### reconciler plan: 1 to start")


def big_plan(count: int) -> Plan:
    desired = [
        spec(f"run-{n:05d}", job={"cluster_id": 1, "package_id": n + 1}) for n in range(count)
    ]
    lock = Lockfile(lineage="l", serial=0)
    planned = plan_actions(desired, lock, {"etl": []}, now=NOW, prune=False)
    return plan_of(
        planned,
        lock,
        NOW,
        reconciler_version="0",
        observed_at={"etl": None},
        refresh_calls={"etl": 1},
    )


def test_a_comment_stays_under_the_limit_and_says_what_it_left_out() -> None:
    plan = big_plan(3000)
    full = markdown.render_plan(plan, limit=10**9)
    assert len(full) > 65_536  # the case: GitHub would refuse it
    link = "https://github.com/acme/specs/actions/runs/42"
    comment = markdown.render_plan(plan, full_plan=link)
    assert len(comment) <= markdown.COMMENT_LIMIT
    shown = comment.count("| **start** |")
    note = f"_… and {3000 - shown} more not shown: the full plan is at {link}_"
    assert note in comment
    assert comment.startswith("### reconciler plan: 3000 to start")
    assert markdown.render_plan(big_plan(10)) == markdown.render_plan(big_plan(10), limit=10**9)


def test_in_gitlab_ci_the_markdown_plan_is_cut_at_the_note_limit_not_githubs(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GitLab keeps a note of up to 1,000,000 characters: its note and artifact hold the whole
    plan where a GitHub comment (65,536) must leave some out."""
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    documents = [jobrun(f"run-{n:05d}", package=n + 1) for n in range(1500)]
    repo.spec("many.yaml", "---\n".join(documents))
    code, cut, _ = repo.run("--sandbox", "plan", "--format", "markdown")
    assert code == 0
    assert len(cut) <= markdown.COMMENT_LIMIT + 1
    assert "more not shown" in cut
    monkeypatch.setenv("GITLAB_CI", "true")
    code, whole, _ = repo.run("--sandbox", "plan", "--format", "markdown")
    assert code == 0
    assert len(whole) > 65_536
    assert "more not shown" not in whole
    assert whole.count("| **start** |") == 1500
