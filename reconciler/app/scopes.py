"""What a refresh lists: the provider instances and the scopes (job definitions, pipelines)
whose runs can matter now."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from reconciler.spec.models import DesiredState
from reconciler.spec.runs import RunStatus

if TYPE_CHECKING:
    from reconciler.app.workspace import Workspace
    from reconciler.engine.desired import DesiredRun
    from reconciler.state.model import Lockfile, RunRecord


def scopes(lock: Lockfile, desired: Sequence[DesiredRun]) -> dict[str, set[str]]:
    """Per instance, the scopes (job definitions, pipelines) whose runs can matter now: each
    one a spec or a record uses, but one where every record is of a run that succeeded and
    every spec asks for no more than it (``completed``, of the same key, no schedule, no
    ``after``). A run that succeeded stays so, as a finished Kubernetes Job is not watched again:
    listing it (Runner: a call per job definition) would tell nothing (issue 20). With
    ``desired`` empty (the lockfile's scopes, listed while the specs load), the scopes of
    records that have not succeeded; those of the specs come after them."""
    used: dict[tuple[str, str], bool] = {}  # place -> settled: nothing there to observe
    for record in lock.runs.values():
        if record.scope is not None:
            place = (record.instance, record.scope)
            used[place] = used.get(place, True) and _completed(record)
    for spec in desired:
        if spec.scope is not None:
            place = (spec.instance, spec.scope)
            used[place] = used.get(place, True) and _asks_no_more(spec, lock.runs.get(spec.name))
    found: dict[str, set[str]] = {}
    for (instance, scope), settled in used.items():
        if not settled:
            found.setdefault(instance, set()).add(scope)
    return found


def _completed(record: RunRecord) -> bool:
    return (
        record.status is RunStatus.SUCCEEDED
        and record.run_id is not None
        and record.prior_runs is None
        and record.claimed_at is None
    )


def _asks_no_more(spec: DesiredRun, record: RunRecord | None) -> bool:
    """``spec`` is done with ``record``, a run that succeeded, whatever the provider says."""
    return (
        record is not None
        and _completed(record)
        and record.key == spec.key
        and record.instance == spec.instance
        and spec.state is DesiredState.COMPLETED
        and spec.schedule is None
        and not spec.after
    )


def used_instances(ws: Workspace, lock: Lockfile, desired: Sequence[DesiredRun]) -> list[str]:
    names = {d.instance for d in desired} | {r.instance for r in lock.runs.values()}
    return sorted(n for n in names if n in ws.config.providers)
