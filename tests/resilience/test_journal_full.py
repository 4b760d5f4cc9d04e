"""A journal that cannot take an intent in full stops the apply before that start.

The apply runs in a child process whose file size limit (``RLIMIT_FSIZE``, ``SIGXFSZ``
ignored) makes the journal's writes first short, then fail with EFBIG, as on a full disk; and,
as root, with the repository on a nearly full tmpfs: a real ENOSPC.
Runner and Matatika runs carry no key: a start whose intent (with its snapshot) were lost would
be made again by the next apply, and counted twice at the sandbox.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.resilience.world import World, file_size_limit


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("limit", "bumped"),
    [(400, 1), (1200, 6)],
    ids=["the-intent-torn", "the-third-intent-torn"],
)
def test_a_journal_write_failure_aborts_before_the_start(
    tmp_path: Path, limit: int, bumped: int
) -> None:
    """400 bytes: the lock's note fits, an intent (~485 bytes with its snapshot) does not."""
    world = World(tmp_path, per_provider=3)
    try:
        world.converge()
        world.advance(60)  # the runs have ended: the new revisions start at once
        keyless = [name for name in sorted(world.specs) if name.startswith(("ctl", "elt"))]
        for name in keyless[:bumped]:
            world.bump(name)
        failed = subprocess.run(
            world.command("apply", "--auto-approve"),
            env=world.env,
            cwd=world.repo,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            preexec_fn=file_size_limit(limit),
        )
        world.converge()
        world.assert_exactly_once()
    finally:
        world.close()
    assert failed.returncode == 1, failed.stderr
    assert failed.stderr.splitlines() == [
        f"Error: cannot write the journal {world.journal}: File too large; no further action "
        "was begun (the next command replays what the journal holds)"
    ]


@contextlib.contextmanager
def small_tmpfs(where: Path) -> Iterator[None]:
    """A tmpfs at ``where``: a real full disk (ENOSPC), where root may mount one."""
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a tmpfs needs root (RLIMIT_FSIZE above covers the same path without)")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """A file taking all of ``disk``'s free space but ``leave`` bytes."""
    stats = os.statvfs(disk)
    free = stats.f_bavail * stats.f_frsize
    filler = disk / "filler"
    with filler.open("wb") as out:
        out.truncate(0)
        os.posix_fallocate(out.fileno(), 0, free - leave)
    return filler


@pytest.mark.timeout(120)
def test_a_full_disk_aborts_before_the_start_whose_intent_it_cut(tmp_path: Path) -> None:
    """The repository on a tmpfs with two pages left: the lock's note takes one, the journal
    one; its intents outgrow it mid-line (a short write, then ENOSPC)."""
    with small_tmpfs(tmp_path / "repo"):
        world = World(tmp_path, per_provider=6)
        try:
            world.converge()
            world.advance(60)
            for name in sorted(world.specs):
                if name.startswith(("ctl", "elt")):  # keyless: a lost intent would show
                    world.bump(name)
            page = os.statvfs(world.repo).f_frsize
            filler = fill(world.repo, leave=2 * page)
            failed = world.run("apply", "--auto-approve", timeout=60)
            filler.unlink()
            world.converge()
            world.assert_exactly_once()
        finally:
            world.close()
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert failed.stderr.splitlines() == [
        f"Error: cannot write the journal {world.journal}: No space left on device; no further "
        "action was begun (the next command replays what the journal holds)"
    ]
