"""Saved plans are tamper-evident: `apply PLANFILE` performs only a plan as it was made, and
with RECONCILER_PLAN_KEY set only one signed with that key. Real entry point, real sandbox."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.engine.actions import Plan
from reconciler.engine.seal import sealed
from reconciler.state.document import dump_json
from tests.conftest import Repo, jobrun

KEY = "correct horse battery staple"
Document = dict[str, Any]


def three_specs(repo: Repo) -> None:
    repo.spec("a.yaml", jobrun("alpha") + "---\n" + jobrun("beta") + "---\n" + jobrun("gamma"))


def sandbox_jobs(repo: Repo) -> list[tuple[int, int, float | None]]:
    """Every job run at the sandbox: (id, package, stop time): what apply did there."""
    with sqlite3.connect(repo.root / ".reconciler" / "sandbox.db") as db:
        rows = db.execute("SELECT id, package_id, stop_at FROM xplenty_jobs ORDER BY id")
        return [(int(i), int(p), s) for i, p, s in rows.fetchall()]


def saved_plan(repo: Repo, *args: str) -> Path:
    path = repo.root / "plan.json"
    code, _, err = repo.run("--sandbox", "plan", "-o", str(path), *args)
    assert (code, err) == (0, "")
    return path


def edit(path: Path, change: Callable[[Document], None], *, reseal: bool = False) -> None:
    """Edit the saved plan as a forger would; ``reseal``: also recompute its digest."""
    document = json.loads(path.read_text())
    change(document)
    if reseal:
        document = json.loads(dump_json(sealed(Plan.model_validate(document), None)))
    path.write_text(json.dumps(document, indent=2))


def action(document: Document, name: str) -> Document:
    found: Document = next(a for a in document["actions"] if a["name"] == name)
    return found


def refused(repo: Repo, path: Path, reason: str) -> None:
    """``apply PLANFILE`` exits 1 with one line naming ``reason``, and acts on nothing."""
    before = sandbox_jobs(repo)
    code, out, err = repo.run("--sandbox", "apply", str(path))
    assert (code, out, err) == (1, "", f"Error: {path}: saved plan refused: {reason}\n")
    assert sandbox_jobs(repo) == before


EDITED = "it was edited after it was made: its digest does not match its content"


def set_package(name: str, package: int) -> Callable[[Document], None]:
    def change(document: Document) -> None:
        action(document, name)["start"]["desired"]["job"]["package_id"] = package

    return change


def test_an_intact_saved_plan_applies(repo: Repo) -> None:
    three_specs(repo)
    path = saved_plan(repo)
    assert len(json.loads(path.read_text())["digest"]) == 64
    assert repo.run("--sandbox", "apply", str(path))[0] == 0
    assert [package for _, package, _ in sandbox_jobs(repo)] == [103, 103, 103]


def test_an_edited_package_id_is_refused(repo: Repo) -> None:
    three_specs(repo)
    path = saved_plan(repo)
    edit(path, set_package("beta", 666))
    refused(repo, path, EDITED)
    assert sandbox_jobs(repo) == []


def test_an_added_action_is_refused(repo: Repo) -> None:
    three_specs(repo)
    full = json.loads(saved_plan(repo).read_text())
    path = saved_plan(repo, "--target", "alpha")
    edit(path, lambda document: document["actions"].append(action(full, "beta")))
    refused(repo, path, EDITED)


def test_a_removed_action_is_refused(repo: Repo) -> None:
    three_specs(repo)
    path = saved_plan(repo)
    edit(path, lambda document: document["actions"].pop())
    refused(repo, path, EDITED)


def test_an_edited_record_is_refused(repo: Repo) -> None:
    three_specs(repo)
    assert repo.run("--sandbox", "apply", "--auto-approve", "--target", "alpha")[0] == 0
    path = saved_plan(repo)

    def change(document: Document) -> None:
        document["records"]["alpha"]["job"]["package_id"] = 666

    edit(path, change)
    refused(repo, path, EDITED)
    edit(path, change, reseal=True)
    refused(repo, path, "its record of alpha is neither the lockfile's nor its spec's")


def test_a_plan_without_a_digest_is_refused(repo: Repo) -> None:
    three_specs(repo)
    path = saved_plan(repo)
    edit(path, lambda document: document.update(digest=None))
    refused(
        repo, path, "it carries no digest: only a plan saved by `reconciler plan -o` can be applied"
    )


def test_a_resealed_forgery_cannot_start_what_the_specs_do_not_ask_for(repo: Repo) -> None:
    three_specs(repo)
    path = saved_plan(repo)
    edit(path, set_package("beta", 666), reseal=True)
    refused(repo, path, "its start of beta is not what the specs ask for")

    path = saved_plan(repo)

    def add_delta(document: Document) -> None:  # a job no spec asks for, copied from gamma's
        document["actions"].append({**action(document, "gamma"), "name": "delta"})

    edit(path, add_delta, reseal=True)
    refused(repo, path, "its start of delta is not what the specs ask for")
    assert sandbox_jobs(repo) == []


def test_a_resealed_forgery_cannot_stop_a_run_not_recorded(repo: Repo) -> None:
    three_specs(repo)
    assert repo.run("--sandbox", "apply", "--auto-approve", "--target", "alpha")[0] == 0
    path = saved_plan(repo, "--target", "beta")

    def stop_run_one_as_beta(document: Document) -> None:
        stop = {**action(document, "beta"), "kind": "stop", "start": None}
        document["actions"] = [{**stop, "stop": {"run_id": "1", "reason": "spec"}}]

    edit(path, stop_run_one_as_beta, reseal=True)
    refused(repo, path, "its stop of beta names run 1, which is not the run recorded for it")


def test_a_resealed_forgery_cannot_drop_a_record(repo: Repo) -> None:
    three_specs(repo)
    assert repo.run("--sandbox", "apply", "--auto-approve", "--target", "alpha")[0] == 0
    path = saved_plan(repo)
    edit(path, lambda document: document["records"].clear(), reseal=True)
    refused(repo, path, "the lockfile's record of alpha is missing from it")


# -- signed plans ----------------------------------------------------------------------------


def test_a_plan_signed_with_the_key_applies(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    three_specs(repo)
    monkeypatch.setenv("RECONCILER_PLAN_KEY", KEY)
    path = saved_plan(repo)
    assert len(json.loads(path.read_text())["signature"]) == 64
    code, out, err = repo.run("--sandbox", "apply", str(path))
    assert code == 0
    assert KEY not in out + err + path.read_text()
    assert len(sandbox_jobs(repo)) == 3


def test_with_the_key_set_an_unsigned_plan_is_refused(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    three_specs(repo)
    path = saved_plan(repo)
    assert json.loads(path.read_text())["signature"] is None
    monkeypatch.setenv("RECONCILER_PLAN_KEY", KEY)
    refused(repo, path, "it is not signed, and a signing key is set: make it with the key")
    assert sandbox_jobs(repo) == []


def test_a_plan_signed_with_another_key_is_refused(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    three_specs(repo)
    monkeypatch.setenv("RECONCILER_PLAN_KEY", "another key")
    path = saved_plan(repo)
    monkeypatch.setenv("RECONCILER_PLAN_KEY", KEY)
    refused(
        repo,
        path,
        "its signature does not match: it was signed with another key, or edited after",
    )


def test_a_signed_plan_edited_and_redigested_is_refused(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    three_specs(repo)
    monkeypatch.setenv("RECONCILER_PLAN_KEY", KEY)
    path = saved_plan(repo)
    signature = json.loads(path.read_text())["signature"]

    def retarget(document: Document) -> None:
        action(document, "beta")["reason"] = "nothing to see here"

    edit(path, retarget, reseal=True)
    edit(path, lambda document: document.update(signature=signature))
    refused(
        repo,
        path,
        "its signature does not match: it was signed with another key, or edited after",
    )


def test_without_the_key_a_signed_plan_applies_on_its_digest(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    three_specs(repo)
    monkeypatch.setenv("RECONCILER_PLAN_KEY", KEY)
    path = saved_plan(repo)
    monkeypatch.delenv("RECONCILER_PLAN_KEY")
    assert repo.run("--sandbox", "apply", str(path))[0] == 0
    assert len(sandbox_jobs(repo)) == 3


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_an_empty_key_is_refused_not_taken_for_no_key(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    three_specs(repo)
    path = saved_plan(repo) if command == "apply" else repo.root / "plan.json"
    monkeypatch.setenv("RECONCILER_PLAN_KEY", "")
    args = ["apply", str(path)] if command == "apply" else ["plan", "-o", str(path)]
    code, _, err = repo.run("--sandbox", *args)
    assert (code, err) == (
        1,
        "Error: RECONCILER_PLAN_KEY is set but empty: set the signing key, or unset it\n",
    )
    assert sandbox_jobs(repo) == []
    assert command == "apply" or not path.exists()


def starting(document: Document) -> Document:
    """The start of the scheduled spec (a plan made across an occurrence's time may also
    hold a missed action for it)."""
    found: Document = next(a for a in document["actions"] if a["start"] is not None)
    return found


def test_a_saved_plan_starts_a_due_occurrence_and_no_forged_one(repo: Repo) -> None:
    repo.spec("a.yaml", jobrun("every-five", extra='schedule: {cron: "*/5 * * * *"}\n'))
    assert repo.run("--sandbox", "apply", "--auto-approve")[0] == 0  # the schedule recorded
    repo.advance(300)
    path = saved_plan(repo)
    start = starting(json.loads(path.read_text()))["start"]["desired"]
    assert start["occurrence"] is not None
    assert repo.run("--sandbox", "apply", str(path))[0] == 0
    assert len(sandbox_jobs(repo)) == 1
    first = start["occurrence"]

    repo.advance(300)
    path = saved_plan(repo)

    def occurrence(at: str) -> Callable[[Document], None]:
        def change(document: Document) -> None:
            starting(document)["start"]["desired"]["occurrence"] = at

        return change

    # The occurrence before the first one: before the schedule was recorded.
    earlier = datetime.fromisoformat(first) - timedelta(minutes=5)
    edit(path, occurrence(earlier.isoformat()), reseal=True)
    refused(
        repo,
        path,
        f"its start of every-five is for {earlier.isoformat()}, an occurrence the state has "
        "dealt with",
    )
    path = saved_plan(repo)
    odd = datetime.fromisoformat(first) + timedelta(minutes=7)
    edit(path, occurrence(odd.isoformat()), reseal=True)
    refused(
        repo,
        path,
        f"its start of every-five is for {odd.isoformat()}, which its schedule does not have",
    )
    assert len(sandbox_jobs(repo)) == 1

    def skip_a_year(document: Document) -> None:  # no occurrence would be due for a year
        state = document["schedules"]["every-five"]
        state["since"] = (datetime.fromisoformat(state["since"]) + timedelta(days=365)).isoformat()

    path = saved_plan(repo)
    edit(path, skip_a_year, reseal=True)
    refused(
        repo,
        path,
        "its schedule state of every-five deals with occurrences after the plan was made",
    )
