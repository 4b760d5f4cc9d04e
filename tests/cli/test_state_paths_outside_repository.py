"""State stays in the repository (issue 10): a ``lockfile`` in reconciler.yaml that leads out
of the repository is refused by ``apply`` with one line, and nothing outside the repository is
created, truncated or written: not the lockfile, its journal, its lock note nor a temp file.
(``validate`` and ``plan`` are covered by tests/cli/test_bad_input.py; the journal and lock
note are not configurable: they sit beside the lockfile.)"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import Repo, jobrun

CANARY = "canary: not for reconciler\n"
OUTSIDE = {  # lockfile: (where it leads, relative to the test's directory; the refusal)
    "absolute": (
        "{tmp}/outside/x.lock",
        "outside/x.lock",
        "is an absolute path; write it relative to reconciler.yaml",
    ),
    "dot-dot": ("../x.lock", "x.lock", "leads outside the repository ('..')"),
    "dot-dot-dir": ("../outside/x.lock", "outside/x.lock", "leads outside the repository ('..')"),
}
COMMANDS = {
    "sandbox": ("--sandbox", "apply", "--auto-approve"),
    "plain": ("apply", "--auto-approve"),
}


def git(root: Path, *args: str) -> None:
    identity = ("-c", "user.name=Dev", "-c", "user.email=dev@example.com")
    done = subprocess.run(
        ["git", *identity, "-C", str(root), *args], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def files(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (the repository aside) with its content."""
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and "repo" not in p.relative_to(directory).parts[:1]
    }


@pytest.fixture
def nested(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Repo:
    """A git repository one level down, so that ``..`` is still the test's own directory."""
    root = tmp_path / "repo"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    monkeypatch.chdir(root)
    monkeypatch.setenv("XPLENTY_API_KEY", "test-key")
    repo = Repo(root, capsys)
    repo.spec("a.yaml", jobrun("nightly"))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    return repo


@pytest.mark.parametrize("existing", [False, True], ids=["absent", "present"])
@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
@pytest.mark.parametrize(("lockfile", "target", "reason"), OUTSIDE.values(), ids=OUTSIDE.keys())
def test_apply_refuses_a_lockfile_outside_the_repository(
    nested: Repo,
    tmp_path: Path,
    lockfile: str,
    target: str,
    reason: str,
    command: tuple[str, ...],
    existing: bool,
) -> None:
    state = tmp_path / target
    planted = [state, Path(f"{state}.journal"), Path(f"{state}.lck")] if existing else []
    for path in planted:
        path.write_text(CANARY)
    config = nested.root / "reconciler.yaml"
    config.write_text(config.read_text() + f"lockfile: {lockfile.format(tmp=tmp_path)}\n")
    before = files(tmp_path)

    code, out, err = nested.run(*command)

    assert (code, out) == (1, ""), err
    assert err.splitlines() == [f"Error: reconciler.yaml:11:1: lockfile: {reason}"]
    assert files(tmp_path) == before  # nothing created, truncated or written outside
    for path in (state, Path(f"{state}.journal"), Path(f"{state}.lck")):
        assert path.exists() == existing, path
    assert not list(state.parent.glob(f".{state.name}*"))  # no temp file beside it
    assert not (nested.root / "reconciler.lock").exists()
