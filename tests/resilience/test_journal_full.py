"""A journal that cannot take an intent in full stops the apply before that start.

The apply runs in a child process whose file size limit (``RLIMIT_FSIZE``, ``SIGXFSZ``
ignored) makes the journal's writes first short, then fail with EFBIG, as on a full disk.
Runner and Matatika runs carry no key: a start whose intent (with its snapshot) were lost would
be made again by the next apply, and counted twice at the sandbox.
"""

from __future__ import annotations

import subprocess
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
