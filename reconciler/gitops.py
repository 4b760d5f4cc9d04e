"""The git side of applies: committing the lockfile (``apply --commit``), pushing it and
syncing with the remote (``apply --push``), pulling (``watch --pull``)."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from reconciler.engine.actions import Action, Plan
from reconciler.errors import ReconcilerError
from reconciler.inert import commit_line
from reconciler.state.model import Lockfile, RunRecord


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=120, check=False
    )


def commit_message(
    plan: Plan,
    done: list[Action],
    records: Mapping[str, RunRecord] | None = None,
    *,
    failures: Sequence[str] = (),
) -> str:
    """The message of an apply's commit. Reasons, run ids and failures carry providers' text:
    each is kept to its line (``commit_line``), so none can add a trailer or a paragraph."""
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
        started = action.start
        commit = (
            plan.source.files.get(started.desired.spec_file) if plan.source and started else None
        )
        by = f" (spec changed in {commit[:12]})" if commit else ""
        record = (records or {}).get(action.name)
        run = f"; run {record.run_id}" if record and record.run_id and started else ""
        lines.append(commit_line(f"- {action.kind.value} {action.name}: {action.reason}{run}{by}"))
    if failures:
        failed = [commit_line(f"- {line}") for line in failures]
        lines += ["", "Failed (see the apply's output):", *failed]
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


def require_upstream(root: Path) -> None:
    """--push moves the checkout to the remote's commit: refuse if that would lose work."""
    if _git(root, "rev-parse", "--abbrev-ref", "@{u}").returncode != 0:
        raise ReconcilerError("--push needs a branch with an upstream (git push -u …)")
    if _git(root, "status", "--porcelain", "--untracked-files=no").stdout.strip():
        raise ReconcilerError("--push needs a clean work tree: commit or stash your changes")
    ahead = _git(root, "rev-list", "--count", "@{u}..HEAD").stdout.strip()
    if ahead not in ("", "0"):
        raise ReconcilerError(f"--push: {ahead} local commit(s) are not on the remote; push them")


def sync(root: Path) -> None:
    """Fetch, and move to the upstream's commit (our own unpushed commits are dropped: they
    only ever hold the lockfile, which is planned again)."""
    fetched = _git(root, "fetch", "--quiet")
    if fetched.returncode != 0:
        raise ReconcilerError(f"git fetch: {fetched.stderr.strip()}")
    reset = _git(root, "reset", "--hard", "--quiet", "@{u}")
    if reset.returncode != 0:
        raise ReconcilerError(f"git reset: {reset.stderr.strip()}")


def pull(root: Path) -> None:
    """Fast-forward to the upstream (``watch --pull``); local work is never overwritten."""
    done = _git(root, "pull", "--ff-only", "--quiet")
    if done.returncode != 0:
        message = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise ReconcilerError(f"git pull: {message}")


def push(root: Path) -> bool:
    """Push; False when the remote moved (rejected as not a fast-forward)."""
    done = _git(root, "push", "--quiet")
    if done.returncode == 0:
        return True
    message = done.stderr
    if "rejected" in message or "fetch first" in message or "non-fast-forward" in message:
        return False
    raise ReconcilerError(f"git push: {message.strip()}")


def merged_lockfile(upstream: Lockfile, ours: Lockfile, touched: set[str]) -> Lockfile:
    """The upstream lockfile with our records for the runs this apply acted on."""
    runs = dict(upstream.runs)
    for name in touched:
        if name in ours.runs:
            runs[name] = ours.runs[name]
        else:
            runs.pop(name, None)
    providers = {**upstream.providers, **ours.providers}
    return upstream.model_copy(
        update={"runs": dict(sorted(runs.items())), "providers": providers, "source": ours.source}
    )
