"""Planning: observe every instance the specs or the state use, then plan (pure), and say
what failed, one line per instance."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from reconciler import __version__
from reconciler.app.desired import DesiredReading, begin_desired
from reconciler.app.digests import lockfile_digest, specs_digest
from reconciler.app.providers import ProviderPool
from reconciler.app.runtime import Runtime
from reconciler.app.scopes import scopes, used_instances
from reconciler.app.workspace import Environment, Workspace
from reconciler.engine.actions import Plan
from reconciler.engine.apply import (
    ApplyResult,
    RefreshedScopes,
)
from reconciler.engine.config_review import ConfigChange, review_config, withheld_instances
from reconciler.engine.desired import DesiredRun
from reconciler.engine.observe import Observation, observe
from reconciler.engine.plan import plan_actions
from reconciler.errors import (
    InputError,
    Problem,
    did_you_mean,
    name_list,
)
from reconciler.providers.base import Provider
from reconciler.providers.registry import provider_types
from reconciler.source.trusted import load_trusted_config
from reconciler.state.model import Lockfile, ScheduleState, Source
from reconciler.state.provenance import read_source


class RefreshProgress(Protocol):
    """Where a long refresh's progress goes (a terminal's live line, a CI log's heartbeat)."""

    every: float  # seconds between reports

    def refreshing(self, calls: Mapping[str, int], elapsed: float) -> None: ...

    def finish(self) -> None: ...


async def observed_plan(
    ws: Workspace,
    providers: Mapping[str, Provider],
    lock: Lockfile,
    desired: Sequence[DesiredRun],
    *,
    targets: Sequence[str] = (),
    config_review: tuple[ConfigChange, ...] = (),
    progress: RefreshProgress | None = None,
) -> tuple[Plan, Observation]:
    """Observe every instance the specs or the lockfile use, then plan (pure); and the
    observation it was made from (``show`` reads runs' progress). Instances withheld by
    ``config_review`` (pull-request mode) are not among ``providers``."""
    calls = _Calls(providers)  # adapters may be reused: their calls are counted from here
    observation = await _reported(
        observe(providers, lock, scopes(lock, desired)), calls.made, progress
    )
    made_from = _made_from(ws, lock, desired)
    plan = _plan(ws, lock, desired, made_from, observation, calls.made(), targets, config_review)
    return plan, observation


@dataclass(frozen=True)
class _MadeFrom:
    """What a plan records of the specs and state it was made from (for ``apply PLANFILE``)."""

    source: Source | None
    lockfile_digest: str
    specs_digest: str


def _made_from(ws: Workspace, lock: Lockfile, desired: Sequence[DesiredRun]) -> _MadeFrom:
    return _MadeFrom(
        source=read_source(ws.root, [*ws.config.specs, ws.config_path.name]),
        lockfile_digest=lockfile_digest(lock),
        specs_digest=specs_digest(ws.config, desired),
    )


def _plan(
    ws: Workspace,
    lock: Lockfile,
    desired: Sequence[DesiredRun],
    made_from: _MadeFrom,
    observation: Observation,
    refresh_calls: dict[str, int],
    targets: Sequence[str],
    config_review: tuple[ConfigChange, ...],
) -> Plan:
    now = max([datetime.now(UTC), *(t for t in observation.server_time.values() if t)])
    chosen = [d for d in desired if not targets or d.name in targets]
    others = [d for d in desired if targets and d.name not in targets]  # by name: O(n)
    planned = plan_actions(
        chosen,
        lock,
        observation.runs,
        now=now,
        prune=ws.config.prune,
        unreachable={**observation.errors, **withheld_instances(config_review)},
        upstream=others,
    )
    actions = [a for a in planned.actions if not targets or a.name in targets]
    return Plan(
        reconciler_version=__version__,
        source=made_from.source,
        created_at=now,
        lineage=lock.lineage,
        serial=lock.serial,
        lockfile_digest=made_from.lockfile_digest,
        specs_digest=made_from.specs_digest,
        prune=ws.config.prune,
        targets=tuple(targets),
        records=planned.records,
        schedules={**_untargeted_schedules(lock, desired, chosen), **planned.schedules},
        actions=tuple(actions),
        after={d.name: d.after for d in chosen if d.after},
        missed_occurrences=sum(len(a.schedule.missed) for a in actions if a.schedule),
        observed_at=observation.server_time,
        refresh_calls=refresh_calls,
        config_review=config_review,
    )


class _Calls:
    """The API calls a refresh's adapters made, each counted from when the refresh took it."""

    def __init__(self, providers: Mapping[str, Provider]) -> None:
        self._providers: dict[str, Provider] = {}
        self._before: dict[str, int] = {}
        self.add(providers)

    def add(self, providers: Mapping[str, Provider]) -> None:
        for name, provider in providers.items():
            if name not in self._providers:
                self._providers[name] = provider
                self._before[name] = provider.calls

    def made(self) -> dict[str, int]:
        return {name: p.calls - self._before[name] for name, p in self._providers.items()}


async def _reported(
    observing: Coroutine[Any, Any, Observation],
    calls: Callable[[], Mapping[str, int]],
    progress: RefreshProgress | None,
) -> Observation:
    """The observation, the calls made so far told to ``progress`` every so often while it
    is under way (a refresh of many pages under a rate limit can take minutes)."""
    if progress is None:
        return await observing
    task = asyncio.ensure_future(observing)
    began = time.monotonic()
    try:
        while not (await asyncio.wait({task}, timeout=progress.every))[0]:
            progress.refreshing(calls(), time.monotonic() - began)
    finally:
        progress.finish()
        task.cancel()  # only if the wait was cancelled (an interrupt): the refresh with it
    return task.result()


def _untargeted_schedules(
    lock: Lockfile, desired: Sequence[DesiredRun], chosen: Sequence[DesiredRun]
) -> dict[str, ScheduleState]:
    """The recorded state of scheduled specs a targeted plan leaves out: kept as it is."""
    left = {d.name for d in desired} - {d.name for d in chosen}
    return {name: state for name, state in lock.schedules.items() if name in left}


def plan_command(
    ws: Workspace,
    env: Environment,
    *,
    targets: Sequence[str] = (),
    trusted_ref: str | None = None,
    progress: RefreshProgress | None = None,
) -> Plan:
    """The plan; with ``trusted_ref`` (pull-request mode), provider instances whose
    configuration differs from that revision's are withheld: no credential, no refresh."""
    review = trusted_review(ws, trusted_ref) if trusted_ref is not None else ()
    # Other processes read a large repository's specs while this one reads the lockfile,
    # then waits on the APIs; the lockfile's problem, if any, is told first as before.
    reading = begin_desired(ws, here=False)
    try:
        lock = ws.store.read()
    except BaseException:
        reading.close()
        raise
    with Runtime() as runtime:
        return runtime.run(
            _plan_as_specs_load(
                runtime.providers, ws, env, lock, reading, targets, review, progress
            )
        )


async def _plan_as_specs_load(
    pool: ProviderPool,
    ws: Workspace,
    env: Environment,
    lock: Lockfile,
    reading: DesiredReading,
    targets: Sequence[str],
    config_review: tuple[ConfigChange, ...],
    progress: RefreshProgress | None,
) -> Plan:
    """``observed_plan``, the lockfile's scopes listed while the specs load (reading 10,000
    specs is seconds of CPU, a refresh seconds of waiting on the APIs): ``reading``, in
    forked processes when the repository is large, collected in a worker thread, then what
    only the specs use; the plan's digests and provenance are worked out in the thread too.
    A problem of the specs is told as it would be without the overlap: before any other, and
    the listings under way are cancelled."""
    withheld = withheld_instances(config_review)

    def load() -> tuple[list[DesiredRun], _MadeFrom]:
        desired = reading.runs()
        return desired, _made_from(ws, lock, desired)

    loading = asyncio.ensure_future(asyncio.to_thread(load))
    try:
        recorded = await _adapters(pool, ws, env, lock, [], withheld)
    except BaseException:
        await loading  # its InputError, if any, is the one told
        raise
    calls = _Calls(recorded)
    early = asyncio.ensure_future(observe(recorded, lock, scopes(lock, [])))
    try:
        desired, made_from = await loading
        check_targets(desired, targets, lock.runs)
        providers = await _adapters(pool, ws, env, lock, desired, withheld)
    except BaseException:
        early.cancel()
        await asyncio.gather(early, return_exceptions=True)
        raise
    calls.add(providers)

    async def observing() -> Observation:
        first = await early
        wanted = scopes(lock, desired)
        rest = {
            name: wanted.get(name, set()) - set(first.scopes.get(name, ()))
            for name in providers
            if name not in first.errors
        }
        rest = {name: s for name, s in rest.items() if s or name not in first.runs}
        later = await observe({name: providers[name] for name in rest}, lock, rest)
        return first.merged(later)

    observation = await _reported(observing(), calls.made, progress)
    return _plan(ws, lock, desired, made_from, observation, calls.made(), targets, config_review)


async def _adapters(
    pool: ProviderPool,
    ws: Workspace,
    env: Environment,
    lock: Lockfile,
    desired: Sequence[DesiredRun],
    withheld: Collection[str],
) -> dict[str, Provider]:
    """Adapters of the instances the specs or the lockfile use, less those withheld (whose
    credential references are not even resolved)."""
    return await pool.get(
        ws, env, [n for n in used_instances(ws, lock, desired) if n not in withheld], withheld
    )


def trusted_review(ws: Workspace, trusted_ref: str) -> tuple[ConfigChange, ...]:
    trusted = load_trusted_config(ws.root, trusted_ref, ws.config_path.name, provider_types())
    return review_config(trusted, ws.config)


async def observe_and_plan(
    pool: ProviderPool,
    ws: Workspace,
    env: Environment,
    lock: Lockfile,
    desired: Sequence[DesiredRun],
    targets: Sequence[str] = (),
    config_review: tuple[ConfigChange, ...] = (),
    *,
    progress: RefreshProgress | None = None,
) -> tuple[Plan, RefreshedScopes]:
    """The plan, and each scope's runs as its refresh listed them (for the apply of this
    plan, moments later: ``engine.apply.RefreshedScopes``)."""
    withheld = withheld_instances(config_review)
    providers = await _adapters(pool, ws, env, lock, desired, withheld)
    began = time.monotonic()  # the listings are at least this recent
    plan, observation = await observed_plan(
        ws,
        providers,
        lock,
        desired,
        targets=targets,
        config_review=config_review,
        progress=progress,
    )
    return plan, RefreshedScopes(observation.scope_runs(), began, observation.scope_listed_at())


def check_targets(
    desired: Sequence[DesiredRun], targets: Sequence[str], recorded: Collection[str] = ()
) -> None:
    """Each target names a spec, or a record whose spec is gone (to prune or forget just
    it, as Terraform targets a resource only its state holds)."""
    names = {d.name for d in desired} | set(recorded)
    unknown = [t for t in targets if t not in names]
    if unknown:
        raise InputError(
            [
                Problem("--target", None, None, "", f"no spec named {t!r}{did_you_mean(t, names)}")
                for t in unknown
            ]
        )


def apply_failures(plan: Plan, result: ApplyResult) -> list[str]:
    """One line per failed action (or per message shared by several, with their count), one
    for the actions an interrupt left, then the refresh's failures (``refresh_failures``)."""
    alike: dict[tuple[str, str], list[str]] = {}
    for action, message in result.failures:
        alike.setdefault((action.kind.value, message), []).append(action.name)
    failures = [
        f"{kind} {names[0]}: {message}"
        if len(names) == 1
        else f"{kind} failed for {len(names)} specs ({name_list(sorted(names))}): {message}"
        for (kind, message), names in alike.items()
    ]
    if result.not_begun:
        names = sorted(a.name for a in result.not_begun)
        failures.append(
            f"interrupted: {len(names)} action(s) not begun ({name_list(names)}); "
            "apply again to perform them"
        )
    return failures + refresh_failures(plan)


def refresh_failures(plan: Plan) -> list[str]:
    """One line per instance that could not be observed (its specs were left as they are)."""
    by_instance: dict[str, list[str]] = {}
    reasons: dict[str, str] = {}
    for action in plan.errors:
        if action.instance in plan.withheld:  # shown for review, not a failure
            continue
        by_instance.setdefault(action.instance, []).append(action.name)
        reasons[action.instance] = action.reason
    return [
        f"refresh of {instance} failed, {len(names)} spec(s) left as they are: {reasons[instance]}"
        for instance, names in sorted(by_instance.items())
    ]
