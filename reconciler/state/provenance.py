"""Where the specs came from: the git commit they were read at, per spec file the commit that
last changed it, and whether the tree had uncommitted changes. One ``git log`` for all files."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from reconciler.state.model import Source


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def read_source(root: Path, paths: Sequence[str]) -> Source | None:
    """The provenance of ``paths`` (relative to ``root``), or None outside a git work tree."""
    head = _git(root, "rev-parse", "HEAD")
    if head is None:
        return None
    status = _git(root, "status", "--porcelain", "--", *paths) or ""
    log = _git(root, "log", "--format=%x00%H", "--name-only", "--relative", "--", *paths) or ""
    files: dict[str, str] = {}
    commit = ""
    for line in log.splitlines():
        if line.startswith("\0"):
            commit = line[1:]
        elif line and line not in files:
            files[line] = commit  # newest first: the first commit seen is the last change
    return Source(commit=head.strip(), dirty=bool(status.strip()), files=files)
