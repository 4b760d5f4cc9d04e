"""Provenance from git: the commit specs were read at, and the commit that started each run."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import Repo, jobrun


def git(repo: Repo, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo.root), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_lockfile_and_runs_name_their_commits(repo: Repo) -> None:
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "dev@example.com")
    git(repo, "config", "user.name", "Dev")
    repo.spec("a.yaml", jobrun("alpha"))
    repo.spec("b.yaml", jobrun("beta"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "add alpha and beta")
    first = git(repo, "rev-parse", "HEAD")
    repo.spec("b.yaml", jobrun("beta", variables="{DAY: \"'mon'\"}"))
    git(repo, "commit", "-qam", "beta on mondays")
    second = git(repo, "rev-parse", "HEAD")

    assert repo.run("--sandbox", "apply", "--auto-approve")[0] == 0
    lock = json.loads((repo.root / "reconciler.lock").read_text())
    assert lock["source"] == {"commit": second, "dirty": False}
    assert lock["runs"]["alpha"]["commit"] == first
    assert lock["runs"]["beta"]["commit"] == second
    assert lock["runs"]["beta"]["spec_file"] == "specs/b.yaml"

    code, out, _ = repo.run("--sandbox", "show", "beta")
    assert code == 0
    assert f"started by commit  {second}" in out
    assert "spec file          specs/b.yaml" in out
    code, _, err = repo.run("--sandbox", "show", "gamma")
    assert (code, err) == (1, "Error: the lockfile records no run for 'gamma'\n")
    code, _, err = repo.run("show", "gamma")  # decided before any provider or credential
    assert (code, err) == (1, "Error: the lockfile records no run for 'gamma'\n")
    code, _, err = repo.run("--sandbox", "show", "alhpa")
    assert err == "Error: the lockfile records no run for 'alhpa'; did you mean 'alpha'?\n"

    repo.spec("a.yaml", jobrun("alpha", variables="{X: \"'1'\"}"))  # not committed
    plan_file = repo.root / "p.json"
    repo.run("--sandbox", "plan", "-o", str(plan_file))
    source = json.loads(plan_file.read_text())["source"]
    assert (source["commit"], source["dirty"]) == (second, True)


def test_outside_git_there_is_no_provenance(repo: Repo) -> None:
    repo.spec("a.yaml", jobrun("alpha"))
    assert repo.run("--sandbox", "apply", "--auto-approve")[0] == 0
    lock = json.loads((repo.root / "reconciler.lock").read_text())
    assert lock["source"] is None
    assert lock["runs"]["alpha"]["commit"] is None
    code, out, _ = repo.run("--sandbox", "show", "alpha")
    assert code == 0
    assert "started by commit  - (its spec file was not committed in git)" in out


def test_apply_commit_commits_only_the_lockfile_naming_runs_and_commits(repo: Repo) -> None:
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "dev@example.com")
    git(repo, "config", "user.name", "Dev")
    repo.spec("a.yaml", jobrun("alpha"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "add alpha")
    spec_commit = git(repo, "rev-parse", "HEAD")
    (repo.root / "notes.txt").write_text("not mine to commit")
    git(repo, "add", "notes.txt")  # staged by the user: must stay out of our commit

    code, out, _ = repo.run("--sandbox", "apply", "--auto-approve", "--commit")
    assert code == 0
    assert "Committed the lockfile: " in out
    assert git(repo, "show", "--name-only", "--format=", "HEAD") == "reconciler.lock"
    message = git(repo, "log", "-1", "--format=%B")
    assert message.splitlines()[0] == "reconciler: apply (1 start)"
    assert f"Specs read at {spec_commit}." in message
    assert f"- start alpha: new spec; run 1 (spec changed in {spec_commit[:12]})" in message
    assert git(repo, "diff", "--cached", "--name-only") == "notes.txt"

    repo.advance(5)  # the run moves on: a status alone is neither written nor committed
    code, out, _ = repo.run("--sandbox", "apply", "--auto-approve", "--commit")
    assert (code, "Lockfile unchanged: no commit." in out) == (0, True)
    assert git(repo, "rev-list", "--count", "HEAD") == "2"
    assert git(repo, "status", "--porcelain", "reconciler.lock") == ""
    code, out, _ = repo.run("--sandbox", "show")
    assert out.splitlines()[1].split()[4:6] == ["pending", "running"]  # recorded, live
