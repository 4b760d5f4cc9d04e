"""For GitHub Actions (``GITHUB_ACTIONS=true``): problems as annotations on the lines of the
files they name, and the plan in the job's summary page."""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.errors import Problem
from reconciler.inert import github_data, github_property

TITLE = "reconciler"


def in_actions(environ: Mapping[str, str]) -> bool:
    return environ.get("GITHUB_ACTIONS") == "true"


def run_url(environ: Mapping[str, str]) -> str | None:
    """The page of this workflow run (its summary holds the whole plan), if in one."""
    parts = [environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    if not in_actions(environ) or not all(parts):
        return None
    server, repository, run = parts
    return f"{server}/{repository}/actions/runs/{run}"


def annotation(problem: Problem) -> str:
    """``::error file=specs/a.yaml,line=3,col=5,title=reconciler::spec.job: …``"""
    where = [f"file={github_property(problem.file)}"] if problem.file else []
    if problem.line is not None:
        where.append(f"line={problem.line}")
    if problem.column is not None:
        where.append(f"col={problem.column}")
    where.append(f"title={TITLE}")
    message = f"{problem.path}: {problem.reason}" if problem.path else problem.reason
    return f"::error {','.join(where)}::{github_data(message)}"


def error_annotation(line: str) -> str:
    """An error that names no file: shown on the run's summary."""
    return f"::error title={TITLE}::{github_data(line)}"
