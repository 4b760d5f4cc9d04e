"""A damaged journal stops every command with the line and what is wrong, acts on nothing, and
has a documented way out: ``journal show``, then ``journal set-aside``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.spec.runs import RunStatus
from reconciler.state.model import RunRecord
from tests.conftest import Repo, jobrun

WAY_OUT = (
    "Error: the journal is damaged, and nothing was done: `reconciler journal show` lists what "
    "it holds, `reconciler journal set-aside` replays what can be read and moves it aside (see "
    "the README, Exactly once)"
)
INTENT = RunRecord(
    name="nightly",
    instance="etl",
    provider_type="xplenty",
    revision="r1",
    key="k",
    attempt=1,
    run_id=None,
    status=RunStatus.UNKNOWN,
    job={"cluster_id": 167, "package_id": 103},
).model_dump(mode="json")
STARTED = {"op": "started", "name": "nightly", "run_id": "7", "status": "pending"}
DAMAGE = {
    "no record": ({"op": "intent"}, "record: required key is missing"),
    "empty record": (
        {"op": "intent", "record": {}},
        "record.name: required key is missing (and 8 more)",
    ),
    "unknown status": (
        {**STARTED, "status": "exploded", "started_at": None},
        "status: Input should be 'pending', 'running', 'stopping', 'succeeded', 'failed', "
        "'stopped' or 'unknown'",
    ),
    "a date that is none": (
        {**STARTED, "started_at": "yesterday"},
        "started_at: Input should be a valid datetime, input is too short",
    ),
    "unknown op": (
        {"op": "explode"},
        "op: not a journal entry (one of intent, started, start_failed, stop_intent, stop)",
    ),
    "not an object": ([1, 2], "not a JSON object"),
}


def _write(repo: Repo, *lines: object | str) -> Path:
    journal = repo.root / "reconciler.lock.journal"
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    journal.write_text(text)
    return journal


@pytest.mark.parametrize("damage", list(DAMAGE), ids=list(DAMAGE))
def test_a_damaged_line_stops_every_command_with_its_line(repo: Repo, damage: str) -> None:
    repo.spec("a.yaml", jobrun("nightly"))
    entry, reason = DAMAGE[damage]
    journal = _write(repo, {"op": "intent", "record": INTENT}, entry)
    text = journal.read_text()
    for command in (("plan",), ("apply", "--auto-approve"), ("show",)):
        code, out, err = repo.run("--sandbox", *command)
        assert (code, out) == (1, ""), command
        assert err.splitlines() == [f"Error: reconciler.lock.journal:2: {reason}", WAY_OUT]
    assert journal.read_text() == text
    assert not (repo.root / "reconciler.lock").exists()
    assert repo.xplenty_jobs() == 0


def test_a_journal_that_is_a_directory_is_one_line(repo: Repo) -> None:
    repo.spec("a.yaml", jobrun("nightly"))
    (repo.root / "reconciler.lock.journal").mkdir()
    code, _, err = repo.run("--sandbox", "apply", "--auto-approve")
    assert (code, err.splitlines()) == (
        1,
        ["Error: cannot read reconciler.lock.journal: not a regular file"],
    )
    code, out, err = repo.run("journal", "set-aside", "--yes")
    assert (code, err) == (0, ""), out
    assert not (repo.root / "reconciler.lock.journal").exists()
    assert repo.run("--sandbox", "apply", "--auto-approve")[0] == 0


def test_journal_show_says_what_each_line_means(repo: Repo) -> None:
    repo.spec("a.yaml", jobrun("nightly"))
    _write(repo, {"op": "intent", "record": INTENT}, {"op": "intent"}, '{"op": "sta')
    code, out, err = repo.run("journal", "show")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "reconciler.lock.journal: 3 line(s), 2 damaged",
        "    1  intent       nightly: start attempt 1 at etl (run key k-1)",
        "    2  damaged      record: required key is missing",
        "    3  damaged      not a JSON line",
        "Unconfirmed start: nightly attempt 1 at etl: its run may exist; the next plan looks "
        "for it by its run key.",
    ]


def test_no_journal_is_nothing_to_show(repo: Repo) -> None:
    assert repo.run("journal", "show")[:2] == (
        0,
        "No journal entries in reconciler.lock.journal: the last apply finished.\n",
    )


def test_set_aside_replays_what_it_can_read_and_the_next_apply_goes_on(repo: Repo) -> None:
    repo.spec("a.yaml", jobrun("nightly"))
    repo.spec("b.yaml", jobrun("hourly", package=104))
    assert repo.run("--sandbox", "apply", "--auto-approve")[0] == 0
    repo.spec("b.yaml", jobrun("hourly", package=105))  # a new revision to start
    run_id = json.loads((repo.root / "reconciler.lock").read_text())["runs"]["nightly"]["run_id"]
    _write(
        repo,
        {"op": "stop_intent", "name": "nightly", "run_id": run_id, "reason": "spec"},
        {"op": "intent"},
    )
    code, _, err = repo.run("journal", "set-aside")  # not a terminal: --yes is needed
    assert (code, err.splitlines()) == (
        1,
        ["Error: refusing to go on without confirmation: pass --yes"],
    )
    code, out, err = repo.run("journal", "set-aside", "--yes")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("Replayed 1 entry into reconciler.lock; the journal is now ")
    assert lines[1:] == ["Not replayed: line 2: record: required key is missing"]
    [aside] = repo.root.glob("reconciler.lock.journal.set-aside-*")
    assert "explode" not in aside.read_text()
    assert not (repo.root / "reconciler.lock.journal").exists()
    lockfile = json.loads((repo.root / "reconciler.lock").read_text())
    assert lockfile["runs"]["nightly"]["stop_reason"] == "spec"  # the readable entry replayed
    code, out, err = repo.run("--sandbox", "apply", "--auto-approve")
    assert (code, err) == (0, ""), out
    assert repo.xplenty_jobs() == 3
