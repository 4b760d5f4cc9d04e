"""The issue's acceptance, as a new user would run it: real entry point, real sandbox HTTP."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import httpx
import jsonschema

from reconciler import __version__
from reconciler.engine.identity import revision, spec_key
from reconciler.sandbox.server import BackgroundSandbox
from tests.conftest import Repo, jobrun


def three_specs(repo: Repo) -> None:
    repo.spec("a.yaml", jobrun("alpha", variables="{START: \"'2026-11-01'\"}"))
    repo.spec("b.yaml", jobrun("beta") + "---\n" + jobrun("gamma", extra="state: running\n"))


def started_keys(repo: Repo) -> list[str]:
    with sqlite3.connect(repo.root / ".reconciler" / "sandbox.db") as db:
        rows = db.execute("SELECT variables FROM xplenty_jobs ORDER BY id").fetchall()
    return [json.loads(v)["RECONCILER_RUN_KEY"] for (v,) in rows]


def test_plan_apply_plan_converges(repo: Repo) -> None:
    three_specs(repo)
    code, out, err = repo.run("--sandbox", "plan", "--detailed-exitcode")
    assert (code, err) == (2, "")
    assert out.count(" + start ") == 3
    assert "Plan: 3 to start." in out
    assert "refresh: etl 1 call" in out

    code, out, _ = repo.run("--sandbox", "apply", "--auto-approve")
    assert code == 0
    assert out.endswith(
        "    + start       alpha  etl: started run 1 (pending)\n"
        "    + start       beta   etl: started run 2 (pending)\n"
        "    + start       gamma  etl: started run 3 (pending)\n\n"
        "Apply complete: 3 started; lockfile serial 1.\n"
    )
    lock = json.loads((repo.root / "reconciler.lock").read_text())
    assert sorted(lock["runs"]) == ["alpha", "beta", "gamma"]
    assert sorted(r["run_id"] for r in lock["runs"].values()) == ["1", "2", "3"]
    assert not (repo.root / "reconciler.lock.journal").exists()

    code, out, _ = repo.run("--sandbox", "plan", "--detailed-exitcode")
    assert code == 0
    assert "No changes." in out
    assert len(set(started_keys(repo))) == 3


def test_changed_variables_replace_and_state_stopped_stop(repo: Repo) -> None:
    three_specs(repo)
    assert repo.run("--sandbox", "apply", "--auto-approve")[0] == 0
    repo.spec("a.yaml", jobrun("alpha", variables="{START: \"'2026-11-02'\"}"))
    code, out, _ = repo.run("--sandbox", "plan", "--detailed-exitcode")
    assert code == 2
    assert "Plan: 1 to replace." in out
    assert "replace     alpha" in out
    assert "job.variables.START: \"'2026-11-01'\" -> \"'2026-11-02'\"" in out
    code, out, _ = repo.run("--sandbox", "apply", "--auto-approve")
    assert code == 0
    assert "-/+ replace     alpha  etl: stop requested: run 1; started run 4 (pending)\n" in out

    repo.spec(
        "b.yaml",
        jobrun("beta", extra="state: stopped\n")
        + "---\n"
        + jobrun("gamma", extra="state: running\n"),
    )
    code, out, _ = repo.run("--sandbox", "plan", "--detailed-exitcode")
    assert (code, out.count(" - stop ")) == (2, 1)
    assert "stop        beta" in out
    code, out, _ = repo.run("--sandbox", "apply", "--auto-approve")
    assert code == 0
    assert "  - stop        beta  etl: stop requested: run 2 (stopping)\n" in out
    repo.advance(10)
    code, out, _ = repo.run("--sandbox", "show")
    beta = next(line for line in out.splitlines() if line.startswith("beta "))
    assert beta.split()[4:7] == ["stopping", "stopped", "stopped"]  # recorded, live, API status
    assert repo.run("--sandbox", "plan", "--detailed-exitcode")[0] == 0


def test_saved_plan_is_refused_when_the_lockfile_changed(repo: Repo) -> None:
    three_specs(repo)
    plan_file = repo.root / "p.json"
    assert repo.run("--sandbox", "plan", "-o", str(plan_file))[0] == 0
    lock = repo.root / "reconciler.lock"
    lock.write_text(
        json.dumps({"version": 1, "lineage": "x", "serial": 7, "providers": {}, "runs": {}})
    )
    code, _, err = repo.run("--sandbox", "apply", str(plan_file))
    assert code == 1
    assert err == (
        "Error: saved plan is stale: the lockfile changed since the plan was made "
        "(no lockfile -> serial 7); run `reconciler plan` again\n"
    )
    assert started_keys(repo) == []


def test_saved_plan_of_another_release_is_refused(repo: Repo) -> None:
    three_specs(repo)
    plan_file = repo.root / "p.json"
    assert repo.run("--sandbox", "plan", "-o", str(plan_file))[0] == 0
    saved = json.loads(plan_file.read_text())
    assert saved["reconciler_version"] == __version__
    plan_file.write_text(json.dumps({**saved, "reconciler_version": "0.0.9"}))
    code, _, err = repo.run("--sandbox", "apply", str(plan_file))
    assert (code, err) == (
        1,
        f"Error: the saved plan was made by reconciler 0.0.9, and this is {__version__}: a plan "
        "applies only with the release that made it; run `reconciler plan` again\n",
    )
    assert started_keys(repo) == []


def test_saved_plan_is_refused_after_a_hand_edit_of_the_serial(repo: Repo) -> None:
    three_specs(repo)
    repo.run("--sandbox", "apply", "--auto-approve", "--target", "alpha")
    plan_file = repo.root / "p.json"
    repo.run("--sandbox", "plan", "-o", str(plan_file))
    lock = repo.root / "reconciler.lock"
    data = json.loads(lock.read_text())
    lock.write_text(json.dumps({**data, "serial": data["serial"] + 1}))
    code, _, err = repo.run("--sandbox", "apply", str(plan_file))
    assert (code, "(serial 1 -> serial 2)" in err) == (1, True)
    assert len(started_keys(repo)) == 1


def test_saved_plan_is_refused_after_a_hand_edit_that_keeps_the_serial(repo: Repo) -> None:
    three_specs(repo)
    repo.run("--sandbox", "apply", "--auto-approve", "--target", "alpha")
    plan_file = repo.root / "p.json"
    repo.run("--sandbox", "plan", "-o", str(plan_file), "--target", "beta")
    lock = repo.root / "reconciler.lock"
    lock.write_text(json.dumps(json.loads(lock.read_text()), indent=1))  # formatting only
    assert repo.run("--sandbox", "apply", str(plan_file))[0] == 0
    repo.run("--sandbox", "plan", "-o", str(plan_file))
    data = json.loads(lock.read_text())
    data["runs"]["alpha"]["failures"] = 1
    lock.write_text(json.dumps(data, indent=2))
    code, _, err = repo.run("--sandbox", "apply", str(plan_file))
    assert (code, err) == (
        1,
        "Error: saved plan is stale: the lockfile was edited since the plan was made "
        "(same serial); run `reconciler plan` again\n",
    )
    assert len(started_keys(repo)) == 2


def test_saved_plan_applies_once_then_is_stale(repo: Repo) -> None:
    three_specs(repo)
    plan_file = repo.root / "p.json"
    repo.run("--sandbox", "plan", "-o", str(plan_file))
    assert repo.run("--sandbox", "apply", str(plan_file))[0] == 0
    code, _, err = repo.run("--sandbox", "apply", str(plan_file))
    assert code == 1
    assert "the lockfile changed since the plan was made (no lockfile -> serial 1)" in err
    assert len(started_keys(repo)) == 3


def test_saved_plan_is_refused_when_the_specs_changed(repo: Repo) -> None:
    three_specs(repo)
    plan_file = repo.root / "p.json"
    repo.run("--sandbox", "plan", "-o", str(plan_file))
    repo.spec("c.yaml", jobrun("delta"))
    code, _, err = repo.run("--sandbox", "apply", str(plan_file))
    assert (code, "reconciler.yaml or the specs changed since the plan was made" in err) == (
        1,
        True,
    )
    assert started_keys(repo) == []


def test_saved_plan_is_refused_when_the_config_changed(repo: Repo) -> None:
    three_specs(repo)
    plan_file = repo.root / "p.json"
    repo.run("--sandbox", "plan", "-o", str(plan_file))
    config = repo.root / "reconciler.yaml"
    config.write_text(config.read_text() + "prune: true\n")
    code, _, err = repo.run("--sandbox", "apply", str(plan_file))
    assert (code, "reconciler.yaml or the specs changed" in err) == (1, True)
    assert started_keys(repo) == []


def test_apply_refuses_without_confirmation_when_not_interactive(repo: Repo) -> None:
    three_specs(repo)
    code, _, err = repo.run("--sandbox", "apply")
    assert code == 1
    assert err == (
        "Error: refusing to apply without confirmation: pass --auto-approve, "
        "or a plan file from `plan -o`\n"
    )
    assert not (repo.root / "reconciler.lock").exists()


def test_lost_lockfile_adopts_runs_by_key_instead_of_starting_twice(repo: Repo) -> None:
    three_specs(repo)
    repo.run("--sandbox", "apply", "--auto-approve")
    (repo.root / "reconciler.lock").unlink()
    _, out, _ = repo.run("--sandbox", "plan")
    assert "Plan: 3 to adopt." in out
    assert repo.run("--sandbox", "apply", "--auto-approve")[0] == 0
    assert len(started_keys(repo)) == 3
    assert repo.run("--sandbox", "plan", "--detailed-exitcode")[0] == 0


def test_interrupted_apply_journal_is_replayed_and_run_adopted(repo: Repo) -> None:
    """A crash after the start call but before the answer was recorded: the journal holds
    only the intent; the next apply must find the run by its key, not start another."""
    three_specs(repo)
    repo.run("--sandbox", "apply", "--auto-approve", "--target", "alpha")
    lock = json.loads((repo.root / "reconciler.lock").read_text())
    intent = dict(lock["runs"]["alpha"], name="beta", run_id=None, status="unknown")
    journal = repo.root / "reconciler.lock.journal"
    # What the crashed apply left: the intent for beta, and the run it started at the provider.
    job = {"cluster_id": 167, "package_id": 103}
    digest = revision(instance="etl", provider_type="xplenty", job=job, rerun=0, window=None)
    intent.update(revision=digest, key=spec_key("beta", digest), job=job, spec_file="specs/b.yaml")
    journal.write_text(json.dumps({"op": "intent", "record": intent}) + "\n")
    with BackgroundSandbox(state=repo.root / ".reconciler" / "sandbox.db") as server:
        httpx.post(
            f"{server.url}/xplenty/acme/api/jobs",
            auth=("k", ""),
            json={**job, "variables": {"RECONCILER_RUN_KEY": f"'{intent['key']}-1'"}},
        ).raise_for_status()
    code, out, _ = repo.run("--sandbox", "apply", "--auto-approve")
    assert code == 0
    assert "Plan: 1 to start." in out  # gamma only; beta's run was found by its key
    assert not journal.exists()
    keys = started_keys(repo)
    assert len(keys) == len(set(keys)) == 3


def test_journal_of_an_apply_killed_before_its_first_intent_changes_nothing(repo: Repo) -> None:
    three_specs(repo)
    assert repo.run("--sandbox", "apply", "--auto-approve")[0] == 0
    lock = repo.root / "reconciler.lock"
    before = lock.read_text()
    journal = repo.root / "reconciler.lock.journal"
    journal.write_text('{"op": "inte')  # created, then killed mid-write of the first line
    code, out, _ = repo.run("--sandbox", "apply", "--auto-approve")
    assert (code, "No changes." in out) == (0, True)
    assert not journal.exists()
    assert lock.read_text() == before  # no rewrite, no new serial


def test_target_limits_the_plan(repo: Repo) -> None:
    three_specs(repo)
    _, out, _ = repo.run("--sandbox", "plan", "--target", "beta")
    assert "Plan: 1 to start." in out
    assert "beta" in out
    assert "alpha" not in out
    code, _, err = repo.run("--sandbox", "plan", "--target", "nope")
    assert (code, err) == (1, "Error: --target: no spec named 'nope'\n")
    code, _, err = repo.run("--sandbox", "plan", "--target", "btea")
    assert (code, err) == (1, "Error: --target: no spec named 'btea'; did you mean 'beta'?\n")


def test_json_plan_matches_its_schema_and_markdown_renders(repo: Repo) -> None:
    three_specs(repo)
    _, out, _ = repo.run("--sandbox", "plan", "--format", "json")
    document = json.loads(out)
    schema = json.loads((Path(__file__).parents[2] / "schemas" / "plan.v1.json").read_text())
    jsonschema.validate(document, schema)
    assert [a["kind"] for a in document["actions"]] == ["start"] * 3
    _, out, _ = repo.run("--sandbox", "plan", "--format", "markdown")
    assert out.startswith("### reconciler plan: 3 to start\n")
    assert "| **start** | `alpha` | etl | new spec |  |" in out


def test_a_removed_spec_s_record_can_be_targeted_alone(repo: Repo) -> None:
    """As Terraform targets a resource only its state holds: `--target` names a record whose
    spec is gone, to forget (or prune) just it; `watch` replicas target them by instance."""
    three_specs(repo)
    assert repo.run("--sandbox", "apply", "--auto-approve")[0] == 0
    repo.advance(3600)  # every run has ended
    (repo.root / "specs" / "a.yaml").unlink()
    (repo.root / "specs" / "b.yaml").unlink()
    code, out, err = repo.run("--sandbox", "apply", "--auto-approve", "--target", "alpha")
    assert (code, err) == (0, ""), out + err
    assert "x forget      alpha  etl: spec removed and its run has ended" in out
    runs = json.loads((repo.root / "reconciler.lock").read_text())["runs"]
    assert sorted(runs) == ["beta", "gamma"]  # beta's record stays: it was not targeted
    code, _, err = repo.run("--sandbox", "plan", "--target", "alfa")
    assert code == 1
    assert "no spec named 'alfa'" in err
