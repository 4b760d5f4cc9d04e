"""The published pre-commit hook, used the pre-commit way from another repository.

pre-commit itself comes from PyPI (a dev dependency). The hook's own environment is built by
pre-commit with pip, offline: from the wheelhouse `make test` downloads beside `.venv`, so the
test needs no network while it runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CONFIG, jobrun

PROJECT = Path(__file__).resolve().parents[2]
WHEELHOUSE = Path(os.environ.get("RECONCILER_WHEELHOUSE", PROJECT / ".venv" / "wheelhouse"))
PRE_COMMIT = Path(sys.executable).parent / "pre-commit"

IDENTITY = {
    "GIT_AUTHOR_NAME": "Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
}


Run = subprocess.CompletedProcess[str]


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    return subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, env=env, timeout=120
    )


def publish_hooks(destination: Path) -> str:
    """This project's files as they are now (tracked or new), committed in a repository."""
    listed = git(PROJECT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    assert listed.returncode == 0, listed.stderr
    for name in filter(None, listed.stdout.split("\0")):
        source = PROJECT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    env = {**os.environ, **IDENTITY}
    for args in (("init", "-q", "-b", "main"), ("add", "-A"), ("commit", "-qm", "hooks")):
        assert git(destination, *args, env=env).returncode == 0
    return git(destination, "rev-parse", "HEAD").stdout.strip()


@pytest.mark.timeout(300)
def test_pre_commit_hook_rejects_a_commit_adding_an_invalid_spec(tmp_path: Path) -> None:
    if not (WHEELHOUSE / ".complete").exists():
        pytest.fail(f"no wheelhouse at {WHEELHOUSE}: run `make test` (or `make wheelhouse`)")
    assert PRE_COMMIT.exists(), "pre-commit is a dev dependency; run `make test`"

    hooks = tmp_path / "hooks"
    hooks.mkdir()
    rev = publish_hooks(hooks)

    consumer = tmp_path / "consumer"
    (consumer / "specs").mkdir(parents=True)
    (consumer / "reconciler.yaml").write_text(CONFIG)
    (consumer / "specs" / "orders.yaml").write_text(jobrun("orders"))
    (consumer / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hooks}\n    rev: {rev}\n    hooks: [{{id: reconciler-validate}}]\n"
    )
    env = {
        **os.environ,
        **IDENTITY,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-cache"),
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(WHEELHOUSE),
    }
    env.pop("VIRTUAL_ENV", None)
    assert git(consumer, "init", "-q", "-b", "main").returncode == 0
    installed = subprocess.run(
        [str(PRE_COMMIT), "install"], cwd=consumer, env=env, capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr

    git(consumer, "add", "-A", env=env)
    valid = git(consumer, "commit", "-m", "a valid spec", env=env)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert "reconciler validate" in valid.stdout + valid.stderr  # the hook ran, and passed

    invalid = jobrun("refunds", package=104).replace("package_id: 104", "package_id: many")
    assert invalid.splitlines()[8] == "    package_id: many"  # line 9
    (consumer / "specs" / "refunds.yaml").write_text(invalid)
    git(consumer, "add", "-A", env=env)
    refused = git(consumer, "commit", "-m", "an invalid spec", env=env)

    output = refused.stdout + refused.stderr
    assert refused.returncode != 0, output
    assert "specs/refunds.yaml:9:5: spec.job.package_id:" in output
    assert "Traceback" not in output
    log = git(consumer, "log", "--format=%s").stdout.splitlines()
    assert log == ["a valid spec"]
