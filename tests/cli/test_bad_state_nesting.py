"""Hostile nesting in what reconciler reads back (issue 12, the RecursionError class): a
lockfile, a saved plan or a journal line of 100,000 nested arrays is one line naming the file,
exit 1, no traceback, nothing written and no run started, whatever the command."""

from __future__ import annotations

import json

from tests.cli.test_bad_input import refused, tree
from tests.conftest import Repo, jobrun
from tests.state.test_damaged_journal import WAY_OUT

DEEP = "[" * 100_000 + "]" * 100_000


def apply_refused(repo: Repo) -> list[str]:
    """``apply``'s error lines; asserts that it wrote nothing but its (empty) lock file."""
    before = tree(repo.root)
    code, out, err = repo.run("--sandbox", "apply", "--auto-approve")
    assert (code, out) == (1, ""), err
    assert "Traceback" not in err
    lock = repo.root / "reconciler.lock.lck"
    assert set(tree(repo.root)) - set(before) <= {lock.name}
    assert not lock.exists() or lock.read_bytes() == b""
    return [line.removeprefix("Error: ") for line in err.splitlines()]


def test_a_lockfile_nested_100000_deep_is_one_line(repo: Repo) -> None:
    repo.spec("a.yaml", jobrun("nightly"))
    lockfile = repo.root / "reconciler.lock"
    lockfile.write_text(DEEP + "\n")
    assert refused(
        repo,
        ("--sandbox", "plan"),
        ("show", "--offline"),
        ("--sandbox", "show"),
    ) == ["reconciler.lock: invalid: nested too deeply"]
    assert apply_refused(repo) == ["reconciler.lock: invalid: nested too deeply"]
    assert lockfile.read_text() == DEEP + "\n"
    assert repo.xplenty_jobs() == 0
    # validate checks the config and the specs, never the state: it is not stopped by it.
    assert repo.run("validate") == (0, "1 spec(s) valid.\n", "")


def test_nesting_the_standard_library_reads_but_the_model_does_not_is_placed(
    repo: Repo,
) -> None:
    """900 levels inside a record's job: json reads it (its limit is about 1,000), the
    model's parser stops at 200: one line at the line of the record and the column where
    reading stopped, not a parser's message about "Invalid JSON"."""
    repo.spec("a.yaml", jobrun("nightly"))
    assert repo.run("--sandbox", "apply", "--auto-approve")[0] == 0
    lockfile = repo.root / "reconciler.lock"
    lines = lockfile.read_text().split("\n")
    [at] = [n for n, line in enumerate(lines) if line.startswith('    "nightly": {')]
    lines[at] = lines[at].replace('"package_id":103', '"package_id":' + "[" * 900 + "]" * 900)
    lockfile.write_text("\n".join(lines))
    [problem] = refused(repo, ("--sandbox", "plan"), ("show", "--offline"))
    place, _, reason = problem.partition(": ")
    name, line, column = place.split(":")
    nesting = lines[at].index("[")
    assert (name, int(line), reason) == ("reconciler.lock", at + 1, "invalid: nested too deeply")
    assert nesting < int(column) <= nesting + 900  # inside the nesting, where it got too deep
    assert repo.xplenty_jobs() == 1  # the first apply's run, and no other


def test_a_saved_plan_nested_100000_deep_is_one_line(repo: Repo) -> None:
    repo.spec("a.yaml", jobrun("nightly"))
    (repo.root / "plan.json").write_text(DEEP + "\n")
    assert refused(repo, ("--sandbox", "apply", "plan.json")) == [
        "plan.json: invalid: nested too deeply"
    ]
    assert not (repo.root / "reconciler.lock").exists()
    assert repo.xplenty_jobs() == 0


def test_a_journal_line_nested_100000_deep_stops_every_command_with_its_line(
    repo: Repo,
) -> None:
    repo.spec("a.yaml", jobrun("nightly"))
    journal = repo.root / "reconciler.lock.journal"
    text = json.dumps({"op": "stop", "name": "nightly"})[:-1] + ', "run_id": ' + DEEP + "}\n"
    journal.write_text(text)
    assert refused(
        repo,
        ("--sandbox", "plan"),
        ("--sandbox", "show"),
        ("show", "--offline"),
    ) == ["reconciler.lock.journal:1: nested too deeply", WAY_OUT.removeprefix("Error: ")]
    assert apply_refused(repo) == [
        "reconciler.lock.journal:1: nested too deeply",
        WAY_OUT.removeprefix("Error: "),
    ]
    assert journal.read_text() == text
    assert not (repo.root / "reconciler.lock").exists()
    assert repo.xplenty_jobs() == 0
    code, out, err = repo.run("journal", "show")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "reconciler.lock.journal: 1 line(s), 1 damaged",
        "    1  damaged      nested too deeply",
    ]
