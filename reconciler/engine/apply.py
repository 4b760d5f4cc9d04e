"""Apply: perform a plan's actions, journaling intents, and fold the outcome into a lockfile.

Each start is preceded by a durable intent in the journal, so a crash between the API call
and the record never loses a run: the next command folds the journal and adopts by key.
A start is never retried blindly; failures are reported per action and the rest go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from reconciler.engine.plan import Action, ActionKind, Plan
from reconciler.engine.records import new_record, with_observation
from reconciler.errors import ApiError, ReconcilerError
from reconciler.providers.base import Provider, StartRequest
from reconciler.state.journal import Journal
from reconciler.state.lockfile import Lockfile, ProviderState, RunRecord


@dataclass
class ApplyResult:
    records: dict[str, RunRecord]
    done: list[Action] = field(default_factory=list)
    failures: list[tuple[Action, str]] = field(default_factory=list)


async def apply_plan(
    plan: Plan, providers: Mapping[str, Provider], journal: Journal
) -> ApplyResult:
    result = ApplyResult(records=dict(plan.records))
    for action in plan.actions:
        if action.kind is ActionKind.FORGET:
            result.records.pop(action.name, None)
            result.done.append(action)
        elif action.kind is ActionKind.ADOPT:
            result.done.append(action)
    calls = [a for a in plan.actions if a.kind.calls_api]
    await asyncio.gather(*(_perform(a, providers[a.instance], journal, result) for a in calls))
    return result


async def _perform(
    action: Action, provider: Provider, journal: Journal, result: ApplyResult
) -> None:
    try:
        if action.kind in (ActionKind.STOP, ActionKind.REPLACE):
            await _stop(action, provider, journal, result)
        if action.kind in (ActionKind.START, ActionKind.RETRY, ActionKind.REPLACE):
            await _start(action, provider, journal, result)
    except ReconcilerError as exc:
        result.failures.append((action, str(exc)))
    else:
        result.done.append(action)


async def _stop(action: Action, provider: Provider, journal: Journal, result: ApplyResult) -> None:
    assert action.run_id is not None
    assert action.stop_reason is not None
    run = await provider.stop_run(action.run_id)
    journal.stop_requested(action.name, action.run_id, action.stop_reason, run.status)
    record = result.records.get(action.name)
    if record is not None and record.run_id == action.run_id:
        result.records[action.name] = with_observation(record, run).model_copy(
            update={"stop_reason": action.stop_reason}
        )


async def _start(action: Action, provider: Provider, journal: Journal, result: ApplyResult) -> None:
    assert action.desired is not None
    assert action.attempt is not None
    record = new_record(action.desired, attempt=action.attempt, failures=action.failures)
    previous = result.records.get(action.name)
    journal.intent(record)
    result.records[action.name] = record
    try:
        run = await provider.start(
            StartRequest(name=action.name, run_key=record.run_key, job=action.desired.job)
        )
    except ApiError as exc:
        if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
            # Refused outright: no run exists, so the intent is void and the old record stays.
            journal.start_failed(action.name)
            if previous is None:
                del result.records[action.name]
            else:
                result.records[action.name] = previous
        # Otherwise the run may exist: the intent stays, and the next plan adopts it by key.
        raise
    journal.started(action.name, run.run_id, run.status, run.started_at)
    result.records[action.name] = with_observation(record, run)


def fold_result(
    lock: Lockfile,
    records: Mapping[str, RunRecord],
    observed_at: Mapping[str, datetime | None],
) -> Lockfile:
    providers = dict(lock.providers)
    for instance, at in observed_at.items():
        if at is not None:
            providers[instance] = ProviderState(observed_at=at)
    return lock.model_copy(
        update={"runs": dict(sorted(records.items())), "providers": dict(sorted(providers.items()))}
    )
