"""State stays in the repository, and no state file is opened through a symbolic link.

A pull request controls the repository's links: each link below points at a canary outside
the repository, which no command may create, truncate or write.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.errors import StateError
from reconciler.state.files import check_writable
from reconciler.state.journal import Journal, read_entries
from reconciler.state.lock import StateLock
from reconciler.state.lockfile import read_lockfile
from tests.conftest import Repo, jobrun

CANARY = "canary: not for reconciler\n"
LINK = "is a symbolic link, and state files are never opened through one; remove the link"
COMMANDS = [
    ("plan", "--sandbox", "plan"),
    ("apply", "--sandbox", "apply", "--auto-approve"),
    ("show", "--sandbox", "show"),
    ("force-unlock", "force-unlock", "0123456789ab"),
]


@pytest.fixture
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("outside")


def _untouched(outside: Path, canary: Path) -> None:
    assert canary.read_text() == CANARY
    assert sorted(p.name for p in outside.iterdir()) == [canary.name]


@pytest.mark.parametrize(
    "state_file", ["reconciler.lock", "reconciler.lock.journal", "reconciler.lock.lck"]
)
@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_a_linked_state_file_is_refused_and_its_target_untouched(
    repo: Repo, outside: Path, state_file: str, command: tuple[str, ...]
) -> None:
    repo.spec("a.yaml", jobrun("nightly"))
    canary = outside / "canary"
    canary.write_text(CANARY)
    (repo.root / state_file).symlink_to(canary)
    code, out, err = repo.run(*command[1:])
    refused = f"Error: {state_file}: {LINK}"
    if state_file == "reconciler.lock":  # the config's `lockfile` is checked first
        refused = (
            "Error: reconciler.yaml:1:1: lockfile: leads outside the repository through a "
            "symbolic link"
        )
    assert (code, out, err.splitlines()) == (1, "", [refused])
    _untouched(outside, canary)


def test_a_link_to_nowhere_is_not_created_through(repo: Repo, outside: Path) -> None:
    repo.spec("a.yaml", jobrun("nightly"))
    canary = outside / "canary"
    canary.write_text(CANARY)
    (repo.root / "reconciler.lock.journal").symlink_to(outside / "planted")
    code, _, err = repo.run("--sandbox", "apply", "--auto-approve")
    assert (code, err.splitlines()) == (1, [f"Error: reconciler.lock.journal: {LINK}"])
    _untouched(outside, canary)


def test_state_in_a_linked_directory_is_refused(repo: Repo, outside: Path) -> None:
    repo.spec("a.yaml", jobrun("nightly"))
    canary = outside / "canary"
    canary.write_text(CANARY)
    (repo.root / "state").symlink_to(outside)
    config = repo.root / "reconciler.yaml"
    config.write_text(config.read_text() + "lockfile: state/reconciler.lock\n")
    code, _, err = repo.run("--sandbox", "apply", "--auto-approve")
    assert code == 1
    assert err == (
        "Error: reconciler.yaml:11:1: lockfile: leads outside the repository through a "
        "symbolic link\n"
    )
    assert "Traceback" not in err
    _untouched(outside, canary)


@pytest.mark.parametrize("linked", [".reconciler", ".reconciler/sandbox.db"])
def test_the_sandbox_state_is_not_kept_through_a_link(
    repo: Repo, outside: Path, linked: str
) -> None:
    repo.spec("a.yaml", jobrun("nightly"))
    canary = outside / "canary"
    canary.write_text(CANARY)
    if linked == ".reconciler":
        (repo.root / linked).symlink_to(outside)
    else:
        (repo.root / ".reconciler").mkdir()
        (repo.root / linked).symlink_to(canary)
    code, _, err = repo.run("--sandbox", "plan")
    assert (code, err.splitlines()) == (
        1,
        [
            f"Error: {linked}: is a symbolic link; the sandbox keeps its state in the "
            "repository: remove it"
        ],
    )
    _untouched(outside, canary)


def test_the_command_line_may_keep_the_state_outside(repo: Repo, outside: Path) -> None:
    """``--lockfile`` comes from whoever runs the command, not from the repository."""
    repo.spec("a.yaml", jobrun("nightly"))
    state = outside / "prod.lock"
    code, out, err = repo.run("--sandbox", "--lockfile", str(state), "apply", "--auto-approve")
    assert (code, err) == (0, ""), out
    assert "nightly" in state.read_text()
    assert sorted(p.name for p in outside.iterdir()) == ["prod.lock", "prod.lock.lck"]
    assert not (repo.root / "reconciler.lock").exists()
    code, out, _ = repo.run("--sandbox", "--lockfile", str(state), "plan")
    assert (code, "No changes." in out) == (0, True)
    code, _, err = repo.run("--lockfile", str(state), "apply", "--auto-approve", "--commit")
    assert (code, err.splitlines()) == (
        1,
        ["Error: --commit and --push commit the repository's lockfile, not --lockfile's"],
    )


def test_a_killed_writes_temp_files_are_removed_by_the_next_write(repo: Repo) -> None:
    repo.spec("a.yaml", jobrun("nightly"))
    leftover = repo.root / ".reconciler.lock.k1ll3d.tmp"
    leftover.write_text("{")
    unrelated = repo.root / ".other.k1ll3d.tmp"
    unrelated.write_text("{")
    code, _, err = repo.run("--sandbox", "apply", "--auto-approve")
    assert (code, err) == (0, "")
    assert not leftover.exists()
    assert unrelated.exists()
    assert sorted(os.listdir(repo.root)) == [
        ".other.k1ll3d.tmp",
        ".reconciler",
        "reconciler.lock",
        "reconciler.lock.lck",
        "reconciler.yaml",
        "specs",
    ]


def test_state_files_are_opened_without_following_links(tmp_path: Path, outside: Path) -> None:
    """Below the workspace's check: each opening refuses a link itself (``O_NOFOLLOW``)."""
    canary = outside / "canary"
    canary.write_text(CANARY)
    for name in ("lock", "lock.journal", "lock.lck"):
        (tmp_path / name).symlink_to(canary)
    refused = "is a symbolic link, and state files are never opened through one"
    with pytest.raises(StateError, match=refused):
        read_lockfile(tmp_path / "lock", "lock")
    with pytest.raises(StateError, match=refused):
        read_entries(tmp_path / "lock.journal")
    with pytest.raises(StateError, match=refused):
        Journal(tmp_path / "lock.journal")
    with pytest.raises(StateError, match=refused):
        StateLock(tmp_path / "lock.lck", "test").acquire()
    with pytest.raises(StateError, match=refused):
        check_writable(tmp_path / "lock")
    _untouched(outside, canary)
