"""actionlint on what we publish for GitHub: the workflow template and the composite action
(action.yml, which actionlint reads when a workflow uses it as ``./``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
TEMPLATE = ROOT / "reconciler" / "templates" / "ci" / "github-actions.yml"
ACTIONLINT = Path(sys.executable).parent / "actionlint"

USES_THE_ACTION = """\
name: uses the action
on: [pull_request, push]
jobs:
  reconcile:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v6
      - uses: ./
        with: {command: plan}
"""


def actionlint(repository: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ACTIONLINT), "-no-color"],
        cwd=repository,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A repository as a user's would be: our template among its workflows, our action at
    its root, and a workflow that uses it."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    shutil.copy(TEMPLATE, workflows / "reconciler.yml")
    shutil.copy(ROOT / "action.yml", tmp_path / "action.yml")
    (workflows / "uses-action.yml").write_text(USES_THE_ACTION)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    return tmp_path


def test_the_template_and_the_action_pass_actionlint(repository: Path) -> None:
    result = actionlint(repository)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_actionlint_reads_the_action_it_is_given(repository: Path) -> None:
    """The check can fail: an input the action does not declare is reported at its use."""
    uses = repository / ".github" / "workflows" / "uses-action.yml"
    uses.write_text(USES_THE_ACTION.replace("command: plan", "comand: plan"))
    result = actionlint(repository)
    assert result.returncode == 1
    assert 'input "comand" is not defined in action "reconciler"' in result.stdout
