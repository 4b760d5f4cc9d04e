"""``state push`` and ``state pull`` through the real CLI against a real PostgreSQL server: a
repository's state moved from the lockfile to the database and back losing nothing, the
lineage and serial checks of Terraform's ``state push``, and leftover journals replayed."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from reconciler.state.files import StateFiles
from reconciler.state.filestore import FileStore
from tests.cli.test_bad_input import configure
from tests.cli.test_postgres_state import POSTGRES, shows_no_secret
from tests.conftest import Repo, jobrun

# Daily, half a day from now (UTC): two days on, both occurrences are over by far more than
# their hour whatever the time the tests run at (a fixed 02:00 started the second in its hour
# when run between 02:00 and 03:00).
DAILY = (
    f'schedule: {{cron: "0 {(datetime.now(UTC).hour + 12) % 24} * * *", starting_deadline: 1h}}\n'
)


def to_postgres(repo: Repo, monkeypatch: pytest.MonkeyPatch, dsn: str) -> None:
    configure(repo, "specs: [specs]\n", f"specs: [specs]\n{POSTGRES}")
    monkeypatch.setenv("RECONCILER_PG_DSN", dsn)


def to_files(repo: Repo) -> None:
    configure(repo, POSTGRES, "")


def state_of(path: Path) -> dict[str, Any]:
    """A lockfile's content, without the release that wrote it."""
    document = dict(json.loads(path.read_text()))
    document.pop("reconciler_version")
    return document


def applied_with_files(repo: Repo) -> dict[str, Any]:
    repo.spec("a.yaml", jobrun("nightly-a"))
    repo.spec("b.yaml", jobrun("daily-b", package=104, extra=DAILY))
    assert repo.run("--sandbox", "apply", "--auto-approve")[0] == 0
    repo.advance(2 * 86400)  # two occurrences of daily-b missed: schedule history
    assert repo.run("--sandbox", "apply", "--auto-approve")[0] == 0
    before = state_of(repo.root / "reconciler.lock")
    assert before["schedules"]["daily-b"]["history"]
    assert before["providers"]
    assert list(before["runs"]) == ["nightly-a"]
    return before


def test_a_repository_moves_to_postgres_and_back_losing_nothing(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, pg_dsn: str
) -> None:
    before = applied_with_files(repo)
    to_postgres(repo, monkeypatch, pg_dsn)
    code, out, err = repo.run("state", "push")
    assert (code, err) == (0, "")
    assert out == (
        f"Wrote the state of reconciler.lock to PostgreSQL {pg_dsn.split('@')[1]} "
        f"(lineage {before['lineage']}, serial {before['serial']}, 1 record(s)).\n"
    )
    shows_no_secret(pg_dsn, out)
    (repo.root / "reconciler.lock").unlink()  # the database alone holds it now
    code, plan, err = repo.run("--sandbox", "plan", "--detailed-exitcode")
    assert (code, err) == (0, ""), plan  # the records are there: nothing to start again
    code, out, err = repo.run("state", "pull")
    assert (code, err) == (0, "")
    assert state_of(repo.root / "reconciler.lock") == before
    to_files(repo)
    assert repo.run("--sandbox", "plan", "--detailed-exitcode")[0] == 0
    assert repo.xplenty_jobs() == 1  # nightly-a; daily-b's occurrences were all missed


def test_a_pull_after_applies_in_postgres_is_the_next_snapshot(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, pg_dsn: str
) -> None:
    before = applied_with_files(repo)
    to_postgres(repo, monkeypatch, pg_dsn)
    assert repo.run("state", "push")[0] == 0
    repo.spec("c.yaml", jobrun("nightly-c", package=105))
    assert repo.run("--sandbox", "apply", "--auto-approve")[0] == 0
    code, out, err = repo.run("state", "pull")
    assert (code, err) == (0, ""), out
    after = state_of(repo.root / "reconciler.lock")
    assert (after["lineage"], after["serial"]) == (before["lineage"], before["serial"] + 1)
    assert set(after["runs"]) == {"nightly-a", "nightly-c"}
    code, out, err = repo.run("state", "pull")
    assert out == (
        f"reconciler.lock already holds the state of PostgreSQL {pg_dsn.split('@')[1]} "
        f"(lineage {after['lineage']}, serial {after['serial']}, 2 record(s)); nothing written.\n"
    )


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (
            lambda d: d | {"serial": d["serial"] - 1},
            "it is older (serial {old}, not {serial})",
        ),
        (
            lambda d: d | {"lineage": "0b9b0a55-0000-4000-8000-000000000000"},
            "it is another state (lineage 0b9b0a55-0000-4000-8000-000000000000, not {lineage})",
        ),
        (
            lambda d: d | {"runs": {}},
            "both hold serial {serial} with different records",
        ),
    ],
    ids=["older-serial", "other-lineage", "same-serial-other-records"],
)
def test_push_is_refused_over_another_or_newer_state_unless_forced(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, pg_dsn: str, edit: Any, why: str
) -> None:
    before = applied_with_files(repo)
    to_postgres(repo, monkeypatch, pg_dsn)
    assert repo.run("state", "push")[0] == 0
    lockfile = repo.root / "reconciler.lock"
    edited = edit(json.loads(lockfile.read_text()))
    lockfile.write_text(json.dumps(edited))
    code, out, err = repo.run("state", "push")
    expected = why.format(
        old=before["serial"] - 1, serial=before["serial"], lineage=before["lineage"]
    )
    assert (code, out) == (1, "")
    assert err == (
        f"Error: PostgreSQL {pg_dsn.split('@')[1]} was not replaced by the state of "
        f"reconciler.lock: {expected}; pass --force to replace it all the same\n"
    )
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM records").fetchone() == (1,)
    code, out, err = repo.run("state", "push", "--force")
    assert (code, err) == (0, "")
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute("SELECT lineage, serial FROM states").fetchone()
        records = conn.execute("SELECT count(*) FROM records").fetchone()
    assert row == (edited["lineage"], before["serial"] + 1)  # past both: saved plans are stale
    assert records == (len(edited["runs"]),)


def test_a_leftover_journal_beside_the_lockfile_is_replayed_before_the_push(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, pg_dsn: str
) -> None:
    before = applied_with_files(repo)
    store = FileStore(StateFiles(repo.root / "reconciler.lock"))
    record = store.read().runs["nightly-a"]
    unconfirmed = record.model_copy(update={"attempt": 2, "run_id": None})
    with store.locked("apply") as held, held.journal() as journal:
        asyncio.run(journal.intent(unconfirmed))  # then killed: the journal stays
    to_postgres(repo, monkeypatch, pg_dsn)
    code, out, err = repo.run("state", "push")
    assert (code, err) == (0, "")
    assert (
        out.splitlines()[0] == "Replayed the journal an interrupted apply left in reconciler.lock."
    )
    assert f"serial {before['serial'] + 1}," in out  # the replay was written first
    assert not (repo.root / "reconciler.lock.journal").exists()
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute("SELECT run_id FROM records WHERE name = 'nightly-a'").fetchone()
    assert row == (None,)  # the unconfirmed start is kept: the next plan looks for its run


def test_state_commands_need_the_postgres_backend(repo: Repo) -> None:
    for command in ("pull", "push"):
        code, out, err = repo.run("state", command)
        assert (code, out) == (1, "")
        assert err == (
            f"Error: state {command} copies between the lockfile and PostgreSQL, and "
            "reconciler.yaml keeps the state in the lockfile (set state: backend: postgres "
            "first)\n"
        )


def test_pull_of_an_empty_store_is_refused(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, pg_dsn: str
) -> None:
    to_postgres(repo, monkeypatch, pg_dsn)
    code, out, err = repo.run("state", "pull")
    assert (code, out) == (1, "")
    assert err == f"Error: PostgreSQL {pg_dsn.split('@')[1]} holds no state yet: nothing to copy\n"
    assert not (repo.root / "reconciler.lock").exists()
