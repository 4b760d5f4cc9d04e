"""Building run records from desired runs: shared by the planner (adopt) and apply (start)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from reconciler.engine.desired import DesiredRun
from reconciler.spec.runs import ObservedRun, RunStatus
from reconciler.state.model import RunRecord


def new_record(
    desired: DesiredRun,
    *,
    attempt: int,
    failures: int,
    prior_runs: list[str] | None = None,
    commit: str | None = None,
) -> RunRecord:
    """A record for a run about to start: no run id until the provider confirms it."""
    return RunRecord(
        name=desired.name,
        instance=desired.instance,
        provider_type=desired.provider_type,
        revision=desired.revision,
        key=desired.key,
        attempt=attempt,
        run_id=None,
        status=RunStatus.UNKNOWN,
        failures=failures,
        prevent_stop=desired.prevent_stop,
        job=desired.job,
        rerun=desired.rerun,
        window=desired.window,
        spec_file=desired.spec_file,
        commit=commit,
        scope=desired.scope,
        prior_runs=prior_runs,
        occurrence=desired.occurrence,
        followed=desired.followed,
    )


def with_observation(record: RunRecord, run: ObservedRun) -> RunRecord:
    """The record as ``run`` says it is now: the record itself when nothing it holds changed
    (a no-op plan of 10,000 runs copies none)."""
    update = {
        "prior_runs": None,  # confirmed: the snapshot has served its purpose
        "claimed_at": None,
        "run_id": run.run_id,
        "status": run.status,
        "api_status": run.api_status,
        "started_at": run.started_at or record.started_at,
        "ended_at": run.ended_at,
        "failure": _failure(record, run),
    }
    if all(getattr(record, field) == value for field, value in update.items()):
        return record
    return record.model_copy(update=update)


def _failure(record: RunRecord, run: ObservedRun) -> str | None:
    """A failed run's account: the API's, else what was recorded for the same run (a listing
    may carry less than the answer that recorded it)."""
    if run.status is not RunStatus.FAILED:
        return None
    if run.failure is not None:
        return run.failure.summary()
    return record.failure if record.run_id == run.run_id else None


def unclaimed_new_runs(
    record: RunRecord, runs: Iterable[ObservedRun], is_claimed: Callable[[str], bool]
) -> list[ObservedRun]:
    """For a keyless start not yet confirmed: the runs of its scope that appeared after its
    snapshot (``prior_runs``) and that no record claims. Exactly one can be adopted as its run;
    with several, nobody can tell which."""
    prior = set(record.prior_runs or ())
    return [
        run
        for run in runs
        if run.scope == record.scope and run.run_id not in prior and not is_claimed(run.run_id)
    ]
