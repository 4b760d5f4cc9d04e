"""Commands that clear or set aside state ask first, as Terraform's force-unlock does; with
no one to answer they refuse unless told (--force, --yes), and change nothing."""

from __future__ import annotations

import json

from tests.conftest import Repo


def test_force_unlock_is_refused_without_force_when_no_one_can_answer(repo: Repo) -> None:
    note = {"id": "abc123", "pid": 4242, "host": "ci", "command": "apply", "since": "now"}
    lock = repo.root / "reconciler.lock.lck"
    lock.write_text(json.dumps(note))
    code, out, err = repo.run("force-unlock", "abc123")
    assert (code, out, err) == (
        1,
        "",
        "Error: refusing to go on without confirmation: pass --force\n",
    )
    assert json.loads(lock.read_text()) == note
    code, out, _ = repo.run("force-unlock", "--force", "abc123")
    assert (code, out) == (0, "Cleared lock abc123 (pid 4242 on ci, apply).\n")
    assert lock.read_text() == ""
