"""Committing the lockfile after an apply (``apply --commit``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from reconciler.engine.plan import Action, Plan
from reconciler.errors import ReconcilerError


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=120, check=False
    )


def commit_message(plan: Plan, done: list[Action]) -> str:
    changes = [a for a in done if a.kind.is_change]
    counted: dict[str, int] = {}
    for action in changes:
        counted[action.kind.value] = counted.get(action.kind.value, 0) + 1
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counted.items())) or "refresh"
    lines = [f"reconciler: apply ({summary})", ""]
    if plan.source is not None:
        dirty = " (with uncommitted changes)" if plan.source.dirty else ""
        lines.append(f"Specs read at {plan.source.commit}{dirty}.")
        lines.append("")
    for action in changes:
        commit = (
            plan.source.files.get(action.desired.spec_file)
            if plan.source and action.desired
            else None
        )
        by = f" (spec changed in {commit[:12]})" if commit else ""
        lines.append(f"- {action.kind.value} {action.name}: {action.reason}{by}")
    return "\n".join(lines).rstrip() + "\n"


def commit_lockfile(root: Path, lockfile: Path, message: str) -> str | None:
    """Commit only the lockfile; the new commit's id, or None when it did not change."""
    relative = str(lockfile.resolve().relative_to(root.resolve()))
    if _git(root, "rev-parse", "--is-inside-work-tree").returncode != 0:
        raise ReconcilerError("--commit needs a git repository")
    added = _git(root, "add", "--", relative)
    if added.returncode != 0:
        raise ReconcilerError(f"git add {relative}: {added.stderr.strip()}")
    if _git(root, "diff", "--cached", "--quiet", "--", relative).returncode == 0:
        return None
    done = _git(root, "commit", "--quiet", "-m", message, "--", relative)
    if done.returncode != 0:
        raise ReconcilerError(f"git commit: {done.stderr.strip() or done.stdout.strip()}")
    return _git(root, "rev-parse", "HEAD").stdout.strip()
