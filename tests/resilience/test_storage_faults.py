"""Storage faults on the state's files are one line, exit 1, before any action, and lose nothing.

A read-only repository is a read-only bind mount when the tests run as root (as CI does; root
ignores file modes), a directory without write permission otherwise. A full disk is a file
size limit (``RLIMIT_FSIZE``) in the child process.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from reconciler.cli import main
from tests.conftest import Repo, jobrun
from tests.resilience.world import World, file_size_limit


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` (a directory or a file) cannot be written, for root too."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(mode & ~0o222)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    subprocess.run(["mount", "--bind", str(path), str(path)], check=True)
    try:
        _remount_read_only(path)
        yield
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=True)


def _remount_read_only(path: Path) -> None:
    """Read-only, once no file on it is open for writing (the kernel refuses until then: a
    running ``watch`` holds its lock file open during each cycle)."""
    for _ in range(100):
        done = subprocess.run(
            ["mount", "-o", "remount,ro,bind", str(path)], capture_output=True, check=False
        )
        if done.returncode == 0:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} could not be made read-only")


@pytest.mark.timeout(120)
def test_a_read_only_repository_is_one_line_before_any_action(tmp_path: Path) -> None:
    world = World(tmp_path, per_provider=1)
    try:
        world.converge()
        world.advance(60)
        world.bump("etl-0")
        with read_only(world.repo):
            failed = world.run("apply", "--auto-approve")
            started = world.runs_per_spec()["etl-0"]
        world.converge()
        world.assert_exactly_once()
    finally:
        world.close()
    assert (failed.returncode, started) == (1, 1), failed.stderr
    assert failed.stderr.splitlines() in (
        ["Error: cannot open reconciler.lock.lck: Read-only file system"],  # root: a mount
        ["Error: cannot write beside reconciler.lock: Permission denied"],  # modes
    )


def test_the_sandbox_in_a_read_only_repository_is_one_line(repo: Repo) -> None:
    repo.spec("a.yaml", jobrun("nightly"))
    with read_only(repo.root):
        code, out, err = repo.run("--sandbox", "plan")
    assert (code, out) == (1, ""), err
    assert err.startswith("Error: cannot open the sandbox's state .reconciler/sandbox.db: ")
    assert len(err.splitlines()) == 1


def test_a_lockfile_replaced_by_a_directory_is_one_line(repo: Repo) -> None:
    repo.spec("a.yaml", jobrun("nightly"))
    (repo.root / "reconciler.lock").mkdir()
    for command in (("plan",), ("apply", "--auto-approve"), ("show",)):
        code, _, err = repo.run("--sandbox", *command)
        assert (code, err.splitlines()) == (
            1,
            [
                "Error: reconciler.yaml:1:1: lockfile: is a directory; name a file, "
                "e.g. reconciler.lock"
            ],
        ), command
    assert repo.xplenty_jobs() == 0


def test_a_read_only_lockfile_is_refused_before_any_action(repo: Repo) -> None:
    """As an immutable file is: the apply could not record what it did."""
    repo.spec("a.yaml", jobrun("nightly"))
    assert repo.run("--sandbox", "apply", "--auto-approve")[0] == 0
    repo.spec("b.yaml", jobrun("hourly", package=104))
    with read_only(repo.root / "reconciler.lock"):
        code, _, err = repo.run("--sandbox", "apply", "--auto-approve")
    assert code == 1
    assert err.startswith("Error: cannot open reconciler.lock: "), err
    assert len(err.splitlines()) == 1
    assert repo.xplenty_jobs() == 1


def test_a_plan_file_that_cannot_be_written_fails_before_the_refresh(repo: Repo) -> None:
    repo.spec("a.yaml", jobrun("nightly"))
    code, out, err = repo.run("--sandbox", "plan", "-o", "missing/dir/plan.json")
    assert (code, out, err.splitlines()) == (
        1,
        "",
        ["Error: cannot write beside missing/dir/plan.json: No such file or directory"],
    )
    assert not (repo.root / ".reconciler").exists()  # no sandbox, so no refresh, was started


@pytest.mark.timeout(180)
def test_a_full_disk_after_the_starts_loses_nothing(tmp_path: Path) -> None:
    """The lockfile cannot grow to record the new runs: the journal keeps them, the next
    command replays it, and no run is started twice."""
    world = World(tmp_path, per_provider=3)
    try:
        world.converge()
        for n in range(3, 7):  # four more records: a larger lockfile
            world.specs[f"etl-{n}"] = ("etl", 1000 + n)
            world.write_spec(f"etl-{n}")
        size = (world.repo / "reconciler.lock").stat().st_size
        failed = subprocess.run(
            world.command("apply", "--auto-approve"),
            env=world.env,
            cwd=world.repo,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            preexec_fn=file_size_limit(size + 100),
        )
        assert world.journal.exists()
        world.converge()
        world.assert_exactly_once()
    finally:
        world.close()
    assert failed.returncode == 1, failed.stderr
    assert failed.stderr.splitlines()[-1] == (
        "Error: cannot write reconciler.lock: File too large; what this apply did is kept in "
        "the journal, and the next command replays it"
    )
    assert "Traceback" not in failed.stderr


def _next_cycle(watch: subprocess.Popen[str], timeout: float = 60) -> dict[str, object]:
    assert watch.stdout is not None
    ready, _, _ = select.select([watch.stdout], [], [], timeout)
    assert ready, "watch printed no cycle"
    line = watch.stdout.readline()
    assert line, "watch ended"
    cycle: dict[str, object] = json.loads(line)
    return cycle


@pytest.mark.timeout(180)
def test_watch_survives_a_read_only_repository_and_resumes(tmp_path: Path) -> None:
    world = World(tmp_path, per_provider=1)
    watch = world.start("watch", "--interval", "0.3", stderr=subprocess.DEVNULL)
    try:
        assert _next_cycle(watch)["status"] == "ok"
        with read_only(world.repo):
            deadline = time.monotonic() + 30
            while (cycle := _next_cycle(watch))["status"] != "error":
                assert time.monotonic() < deadline, cycle
        errors = cycle["errors"]
        assert isinstance(errors, list)
        assert len(errors) == 1, errors
        assert errors[0].endswith(("Read-only file system", "Permission denied")), errors
        world.advance(60)
        world.bump("etl-0")
        deadline = time.monotonic() + 30
        while not (cycle := _next_cycle(watch)).get("actions"):
            assert time.monotonic() < deadline, cycle
        assert cycle["status"] == "ok", cycle
        watch.send_signal(signal.SIGTERM)
        assert watch.wait(timeout=30) == 0
    finally:
        if watch.poll() is None:
            watch.kill()
        watch.wait()
        assert watch.stdout is not None
        watch.stdout.close()
        world.close()
    assert world.runs_per_spec()["etl-0"] == 2


def test_init_in_a_read_only_directory_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with read_only(tmp_path):
        monkeypatch.chdir(tmp_path)  # into the mount, made above
        code = main(["init"])
        monkeypatch.undo()
    _, err = capsys.readouterr()
    assert code == 1
    assert err.splitlines() in (
        ["Error: cannot use specs: Read-only file system"],
        ["Error: cannot use specs: Permission denied"],
    )
    assert list(tmp_path.iterdir()) == []
