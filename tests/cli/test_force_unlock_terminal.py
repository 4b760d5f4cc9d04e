"""Issue 18: `force-unlock` on a terminal asks first, as Terraform's does: only `yes` clears the
lock; any other answer leaves it as it was and exits 1. The CLI runs under a pseudo-terminal,
as a person would run it, and the test types the answer."""

from __future__ import annotations

import json

import pytest

from tests.cli.test_commands import _run_in_terminal
from tests.conftest import Repo

NOTE = {"id": "abc123", "pid": 4242, "host": "ci", "command": "apply", "since": "now"}
QUESTION = (
    "Clear lock abc123? Only do so if its holder is surely gone. Only 'yes' will be accepted:"
)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("answer", ["no", "y", "YES"])
def test_any_answer_but_yes_keeps_the_lock(repo: Repo, answer: str) -> None:
    lock = repo.root / "reconciler.lock.lck"
    lock.write_text(json.dumps(NOTE))
    code, screen = _run_in_terminal(repo.root, ["force-unlock", "abc123"], answer)
    assert code == 1, screen
    assert QUESTION in screen
    assert screen.rstrip().endswith("Cancelled; nothing was done.")
    assert "Cleared" not in screen
    assert json.loads(lock.read_text()) == NOTE


@pytest.mark.timeout(90)
def test_yes_clears_the_lock(repo: Repo) -> None:
    lock = repo.root / "reconciler.lock.lck"
    lock.write_text(json.dumps(NOTE))
    code, screen = _run_in_terminal(repo.root, ["force-unlock", "abc123"], "yes")
    assert code == 0, screen
    assert QUESTION in screen
    assert screen.rstrip().endswith("Cleared lock abc123 (pid 4242 on ci, apply).")
    assert lock.read_text() == ""
