"""apply --commit --push with real git: a bare remote, clones as merge jobs, a shared sandbox."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.resilience.world import World


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


class Remote:
    """A bare remote holding the world's repository, and clones of it."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.bare = world.root / "remote.git"
        git(world.root, "init", "-q", "--bare", "-b", "main", str(self.bare))
        source = world.repo
        git(source, "init", "-q", "-b", "main")
        self.identify(source)
        (source / ".gitignore").write_text(
            "reconciler.lock.lck\nreconciler.lock.journal\n.reconciler/\n"
        )
        git(source, "add", "-A")
        git(source, "commit", "-qm", "specs")
        git(source, "remote", "add", "origin", str(self.bare))
        git(source, "push", "-q", "-u", "origin", "main")

    def identify(self, repo: Path) -> None:
        git(repo, "config", "user.email", "ci@example.com")
        git(repo, "config", "user.name", "CI")

    def clone(self, name: str) -> Path:
        path = self.world.root / name
        git(self.world.root, "clone", "-q", str(self.bare), str(path))
        self.identify(path)
        return path

    def apply(self, clone: Path, *extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                *self.world.command("apply", "--auto-approve", "--commit", "--push", *extra)[:3],
                "--config",
                str(clone / "reconciler.yaml"),
                "apply",
                "--auto-approve",
                "--commit",
                "--push",
                *extra,
            ],
            env=self.world.env,
            cwd=clone,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def remote_lockfile(self) -> dict[str, Any]:
        return dict(json.loads(git(self.bare, "show", "main:reconciler.lock")))


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Remote]:
    world = World(tmp_path, per_provider=2)
    yield Remote(world)
    world.close()


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


def test_merge_job_lands_a_lockfile_commit_naming_runs_and_spec_commit(remote: Remote) -> None:
    author = remote.clone("author")
    (author / "specs" / "etl-0.yaml").write_text(
        (author / "specs" / "etl-0.yaml").read_text().replace("rerun: 0", "rerun: 1")
    )
    git(author, "commit", "-qam", "rerun etl-0")
    git(author, "push", "-q")
    spec_commit = git(author, "rev-parse", "HEAD")

    merge_job = remote.clone("merge-job")
    code, out, err = finish(remote.apply(merge_job))
    assert code == 0, err
    log = git(remote.bare, "log", "--format=%s", "main")
    assert log.splitlines()[:2] == ["reconciler: apply (8 start)", "reconciler: claim 8 start(s)"]
    message = git(remote.bare, "log", "-1", "--format=%B", "main")
    lock = remote.remote_lockfile()
    run_id = lock["runs"]["etl-0"]["run_id"]
    assert f"- start etl-0: new spec; run {run_id} (spec changed in {spec_commit[:12]})" in message
    assert lock["runs"]["etl-0"]["commit"] == spec_commit
    remote.world.reruns["etl-0"] = 0  # the world counts runs per spec from here
    remote.world.assert_exactly_once()

    before = git(remote.bare, "rev-parse", "main")
    remote.world.advance(5)  # runs move on: statuses alone are not committed
    code, out, _ = finish(remote.apply(merge_job))
    assert code == 0
    assert "No changes." in out
    assert git(remote.bare, "rev-parse", "main") == before  # running it again changes nothing
    assert not git(merge_job, "status", "--porcelain", "--untracked-files=no")


def test_two_racing_merge_jobs_start_each_run_once(remote: Remote) -> None:
    first, second = remote.clone("job-1"), remote.clone("job-2")
    racing = [remote.apply(first), remote.apply(second)]  # both running at once
    results = [finish(p) for p in racing]
    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    remote.world.assert_exactly_once()
    lock = remote.remote_lockfile()
    assert sorted(lock["runs"]) == sorted(remote.world.specs)
    # Later merge jobs see every run recorded; nothing left to start.
    code, out, _ = finish(remote.apply(remote.clone("job-3")))
    assert (code, "Plan:" not in out) == (0, True)
    remote.world.assert_exactly_once()
