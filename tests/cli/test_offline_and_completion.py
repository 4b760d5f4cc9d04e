"""``show --offline`` reads the state alone (no provider, no credential); ``completion``
prints a script whose completions come from the real command line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import Repo, jobrun


def test_show_offline_needs_no_provider_and_no_credential(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.spec("a.yaml", jobrun("nightly"))
    assert repo.run("--sandbox", "apply", "--auto-approve")[0] == 0
    monkeypatch.delenv("XPLENTY_API_KEY")  # a plain show would need it
    code, _, err = repo.run("show")
    assert code == 1
    assert "XPLENTY_API_KEY" in err
    code, out, err = repo.run("show", "--offline")
    assert (code, err) == (0, "")
    assert "nightly" in out
    assert "pending" in out or "running" in out
    code, out, err = repo.run("show", "--offline", "nightly")
    assert (code, err) == (0, "")
    assert "nightly" in out
    code, _, err = repo.run("show", "--offline", "nightyl")
    assert (code, err) == (
        1,
        "Error: the lockfile records no run for 'nightyl'; did you mean 'nightly'?\n",
    )


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_a_script_for_each_shell(shell: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "completion", shell],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert "_RECONCILER_COMPLETE" in done.stdout


def test_completion_completes_commands_and_options() -> None:
    environ = {**os.environ, "_RECONCILER_COMPLETE": "bash_complete"}
    for words, expected in (("reconciler pl", "plan"), ("reconciler show --off", "--offline")):
        done = subprocess.run(
            [sys.executable, "-m", "reconciler"],
            env={**environ, "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)},
            capture_output=True,
            text=True,
            check=False,
        )
        offered = [line.partition(",")[2] for line in done.stdout.splitlines()]  # type,value
        assert expected in offered, done.stdout


def test_a_bad_spec_under_the_sandbox_leaves_no_sandbox_state(repo: Repo) -> None:
    repo.spec("a.yaml", jobrun("nightly", package=-1))
    code, _, err = repo.run("--sandbox", "plan")
    assert code == 1
    assert "package_id" in err
    assert not (repo.root / ".reconciler").exists()
