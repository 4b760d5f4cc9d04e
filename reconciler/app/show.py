"""``show``: each recorded run beside its live status and the provider's account of it."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from reconciler.app.planning import observed_plan
from reconciler.app.providers import open_providers
from reconciler.app.runtime import run_sync
from reconciler.app.scopes import used_instances
from reconciler.app.workspace import Environment, Workspace
from reconciler.errors import (
    ReconcilerError,
    UsageError,
    did_you_mean,
)
from reconciler.providers.base import Provider
from reconciler.spec.durations import format_duration
from reconciler.spec.runs import ObservedRun, RunStatus
from reconciler.state.model import Lockfile, RunRecord, ScheduleState


@dataclass(frozen=True)
class ShowRow:
    name: str
    instance: str
    run_id: str | None
    attempt: int
    recorded: str
    live: str
    api_status: str | None
    started_at: datetime | None
    spec_file: str | None
    details: str | None = None
    commit: str | None = None
    revision: str = ""
    run_key: str = ""
    stop_reason: str | None = None
    occurrence: datetime | None = None
    schedule: ScheduleState | None = None  # a scheduled spec's recent and missed occurrences
    failure: str | None = None  # why it failed, as its provider said (kept by the lockfile)
    progress: str | None = None  # how far an active run has got: "42% done, 3m elapsed"


def show_command(ws: Workspace, env: Environment, name: str | None = None) -> list[ShowRow]:
    """Each recorded run (or the one of spec ``name``) beside its live status, and the
    provider's account of it, if any."""
    lock = ws.store.read()
    return run_sync(_show(ws, env, lock, _names(lock, name)))


async def _show(ws: Workspace, env: Environment, lock: Lockfile, names: list[str]) -> list[ShowRow]:
    async with open_providers(ws, env, used_instances(ws, lock, [])) as providers:
        plan, observation = await observed_plan(ws, providers, lock, [])
        live = {name: plan.records.get(name, lock.runs.get(name)) for name in names}
        listed = {
            (instance, run.run_id): run
            for instance, runs in observation.runs.items()
            for run in runs
        }
        now = plan.created_at
        details = await asyncio.gather(*(_details(providers, live[name]) for name in names))
        progress = await asyncio.gather(
            *(_progress(providers, live[name], listed, now) for name in names)
        )
    return [
        dataclasses.replace(_row(name, lock, live[name], detail), progress=done)
        for name, detail, done in zip(names, details, progress, strict=True)
    ]


def offline_rows(ws: Workspace, name: str | None = None) -> list[ShowRow]:
    """What the state records, without asking any provider (no credential needed): statuses
    as of the last apply that recorded them."""
    lock = ws.store.read()
    names = _names(lock, name)
    return [_row(n, lock, lock.runs.get(n), None) for n in names]


def _names(lock: Lockfile, name: str | None) -> list[str]:
    """The names asked for: every recorded run's, or ``name``, which may also be a scheduled
    spec's that has had no run yet (only missed occurrences)."""
    if name is not None and name not in lock.runs and name not in lock.schedules:
        suggestion = did_you_mean(name, lock.runs)  # before any credential is needed
        raise UsageError(f"the lockfile records no run for {name!r}{suggestion}")
    return [name] if name else sorted(lock.runs)


def _row(name: str, lock: Lockfile, live: RunRecord | None, detail: str | None) -> ShowRow:
    recorded = lock.runs.get(name)
    if recorded is None or live is None:  # a schedule whose occurrences were all missed
        return ShowRow(
            name, "-", None, 0, "-", "-", None, None, None, schedule=lock.schedules[name]
        )
    return ShowRow(
        name=name,
        instance=recorded.instance,
        run_id=live.run_id,
        attempt=live.attempt,
        recorded=recorded.status.value,
        live=live.status.value,
        api_status=live.api_status,
        started_at=live.started_at,
        spec_file=recorded.spec_file,
        details=detail,
        commit=live.commit,
        revision=live.revision,
        run_key=live.run_key,
        stop_reason=live.stop_reason.value if live.stop_reason else None,
        occurrence=live.occurrence,
        schedule=lock.schedules.get(name),
        failure=live.failure if live.status is RunStatus.FAILED else None,
    )


async def _details(providers: Mapping[str, Provider], record: RunRecord | None) -> str | None:
    provider = providers.get(record.instance) if record else None
    if provider is None or record is None or record.run_id is None:
        return None
    try:
        return await provider.details(record.run_id)
    except ReconcilerError as exc:
        return f"(unavailable: {exc})"


async def _progress(
    providers: Mapping[str, Provider],
    record: RunRecord | None,
    listed: Mapping[tuple[str, str], ObservedRun],
    now: datetime,
) -> str | None:
    """An active run's progress and elapsed time, as its provider reports them now: from the
    plan's listing, else one call (a listing bounded by ``since`` leaves out a run that has
    not changed lately); nothing for an ended run."""
    provider = providers.get(record.instance) if record else None
    if provider is None or record is None or record.run_id is None or record.status.is_terminal:
        return None
    run = listed.get((record.instance, record.run_id))
    if run is None:
        try:
            run = await provider.get_run(record.run_id)
        except ReconcilerError as exc:
            return f"(unavailable: {exc})"
    return progress_text(run.progress, run.elapsed_at(now))


def progress_text(progress: float | None, elapsed: timedelta | None) -> str | None:
    """``42% done, 3m12s elapsed``; None when the provider tells neither."""
    parts = []
    if progress is not None:
        parts.append(f"{progress:.0%} done")
    if elapsed is not None:
        parts.append(f"{format_duration(int(elapsed.total_seconds()))} elapsed")
    return ", ".join(parts) or None
