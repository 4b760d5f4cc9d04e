"""`apply --commit` and `--push` with the state in PostgreSQL: the committed lockfile is a
snapshot of the store (real git, a real server, the sandbox), refused up front where writing it
would lose a lockfile's own state; racing merge jobs each start a run once and push."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_postgres_state import POSTGRES, use_postgres
from tests.cli.test_push import Remote, finish, git
from tests.conftest import Repo, jobrun
from tests.resilience.world import World


def committed_lockfile(root: Path, rev: str = "HEAD") -> dict[str, Any]:
    return dict(json.loads(git(root, "show", f"{rev}:reconciler.lock")))


def stored_state(repo: Repo) -> dict[str, Any]:
    """The store's state, as `state pull` writes it elsewhere."""
    target = repo.root.parent / f"{repo.root.name}-pulled.lock"
    target.unlink(missing_ok=True)
    assert repo.run("state", "pull", str(target))[0] == 0
    return dict(json.loads(target.read_text()))


@pytest.fixture
def git_repo(repo: Repo) -> Repo:
    git(repo.root, "init", "-q", "-b", "main")
    git(repo.root, "config", "user.email", "ci@example.com")
    git(repo.root, "config", "user.name", "CI")
    (repo.root / ".gitignore").write_text(".reconciler/\n")
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-qm", "config")
    return repo


def test_apply_commit_commits_a_snapshot_of_the_store(
    git_repo: Repo, monkeypatch: pytest.MonkeyPatch, pg_dsn: str
) -> None:
    repo = git_repo
    use_postgres(repo, monkeypatch, pg_dsn)
    repo.spec("a.yaml", jobrun("nightly-a"))
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-qm", "specs")
    code, out, err = repo.run("--sandbox", "apply", "--auto-approve", "--commit")
    assert (code, err) == (0, ""), out + err
    assert "Committed the lockfile: " in out
    assert git(repo.root, "log", "-1", "--format=%s") == "reconciler: apply (1 start)"
    snapshot = committed_lockfile(repo.root)
    stored = stored_state(repo)
    assert (snapshot["lineage"], snapshot["serial"]) == (stored["lineage"], stored["serial"])
    assert snapshot["runs"]["nightly-a"]["run_id"] == stored["runs"]["nightly-a"]["run_id"]
    assert not git(repo.root, "status", "--porcelain", "--untracked-files=no")

    code, out, _ = repo.run("--sandbox", "apply", "--auto-approve", "--commit")
    assert code == 0
    assert "No changes." in out
    assert "Lockfile unchanged: no commit." in out
    assert git(repo.root, "log", "-1", "--format=%s") == "reconciler: apply (1 start)"


def test_a_lockfile_the_store_never_took_is_not_overwritten(
    git_repo: Repo, monkeypatch: pytest.MonkeyPatch, pg_dsn: str
) -> None:
    """Switched to PostgreSQL without `state push`: the lockfile holds the only record of its
    runs. `apply --commit` refuses before acting, naming the way out."""
    repo = git_repo
    repo.spec("a.yaml", jobrun("nightly-a"))
    assert repo.run("--sandbox", "apply", "--auto-approve")[0] == 0
    assert repo.run("--sandbox", "apply", "--auto-approve")[0] == 0  # serial 2
    lockfile = (repo.root / "reconciler.lock").read_text()
    use_postgres(repo, monkeypatch, pg_dsn)
    repo.spec("b.yaml", jobrun("nightly-b", package=104))
    code, _, err = repo.run("--sandbox", "apply", "--auto-approve", "--commit")
    assert code == 1
    assert err.startswith("Error: reconciler.lock would be replaced by a snapshot of "), err
    assert "`reconciler state push` it into the store first" in err
    assert "nothing was done" in err
    assert "Traceback" not in err
    assert repo.xplenty_jobs() == 1  # nightly-b was not started
    assert (repo.root / "reconciler.lock").read_text() == lockfile


@pytest.fixture
def remote(tmp_path: Path, pg_dsn: str) -> Iterator[Remote]:
    world = World(tmp_path, per_provider=2)
    config = world.repo / "reconciler.yaml"
    config.write_text(config.read_text() + POSTGRES)
    world.env["RECONCILER_PG_DSN"] = pg_dsn
    yield Remote(world)
    world.close()


def test_racing_merge_jobs_each_push_a_snapshot_and_start_each_run_once(
    remote: Remote,
) -> None:
    jobs = [remote.clone(f"job-{k}") for k in range(3)]
    racing = [remote.apply(job, "--lock-timeout", "60") for job in jobs]
    results = [finish(process) for process in racing]
    for code, out, err in results:
        assert code == 0, out + err
        assert "Traceback" not in err
    remote.world.assert_exactly_once()
    # One started them all; whatever the order of pushes, the remote's snapshot is the
    # store's state after them (the pushes that lost a race synced and exported again).
    snapshot = dict(json.loads(git(remote.bare, "show", "main:reconciler.lock")))
    assert len(snapshot["runs"]) == 8
    assert all(record["run_id"] for record in snapshot["runs"].values())
    log = git(remote.bare, "log", "--format=%s", "main").splitlines()
    assert log[0].startswith("reconciler: apply (")
    assert not any(line.startswith("reconciler: claim") for line in log)  # no claim in git
    for job in jobs:
        assert not git(job, "status", "--porcelain", "--untracked-files=no")


def test_push_with_the_state_in_postgres_still_needs_an_upstream(remote: Remote) -> None:
    loose = remote.world.root / "loose"
    loose.mkdir()
    subprocess.run(["cp", "-r", f"{remote.world.repo}/.", str(loose)], check=True)
    git(loose, "remote", "remove", "origin")
    code, _, err = finish(remote.apply(loose))
    assert code == 1
    assert "--push needs a branch with an upstream" in err
