"""CI templates and the pre-commit hook definition."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from reconciler.cli import main

ROOT = Path(__file__).parents[2]
PACKAGED = ROOT / "reconciler" / "templates" / "ci"


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_examples_are_the_packaged_templates(name: str) -> None:
    assert (ROOT / "examples" / "ci" / name).read_text() == (PACKAGED / name).read_text()
    YAML(typ="safe").load((PACKAGED / name).read_text())


def test_github_template_plans_on_pull_requests_and_applies_one_at_a_time() -> None:
    workflow = YAML(typ="safe").load((PACKAGED / "github-actions.yml").read_text())
    plan_steps = " ".join(str(s.get("run", "")) for s in workflow["jobs"]["plan"]["steps"])
    assert "reconciler validate" in plan_steps
    assert "--format markdown" in plan_steps
    apply = workflow["jobs"]["apply"]
    assert apply["concurrency"] == {"group": "reconciler-apply", "cancel-in-progress": False}
    assert any("git push" in str(s.get("run", "")) for s in apply["steps"])


@pytest.mark.parametrize(
    ("ci", "target"), [("github", ".github/workflows/reconciler.yml"), ("gitlab", ".gitlab-ci.yml")]
)
def test_init_writes_the_pipeline(
    ci: str,
    target: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "--ci", ci]) == 0
    assert (tmp_path / "reconciler.yaml").exists()
    written = (tmp_path / target).read_text()
    template = "github-actions.yml" if ci == "github" else "gitlab-ci.yml"
    assert written == (PACKAGED / template).read_text()
    assert main(["init", "--ci", ci]) == 1  # never overwrites
    assert f"{target} already exists; nothing was written" in capsys.readouterr().err


def test_pre_commit_hook_definition() -> None:
    hooks = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hooks == [
        {
            "id": "reconciler-validate",
            "name": "reconciler validate",
            "description": "Check reconciler.yaml and every JobRun spec; report file:line:col "
            "for each problem.",
            "entry": "reconciler validate",
            "language": "python",
            "files": r"(^|/)(reconciler\.yaml|.*\.ya?ml)$",
            "pass_filenames": False,
            "require_serial": True,
        }
    ]
