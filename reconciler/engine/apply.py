"""Apply: perform a plan's actions, journaling intents, and fold the outcome into a lockfile.

Each start is preceded by a durable intent in the journal, so a crash between the API call
and the record never loses a run: the next command folds the journal and adopts by key.
A start is never retried blindly; failures are reported per action and the rest go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from reconciler.engine.actions import Action, ActionKind, Plan, StartOrder, StopOrder
from reconciler.engine.records import new_record, unclaimed_new_runs, with_observation
from reconciler.errors import (
    AmbiguousStartError,
    ApiError,
    JournalWriteError,
    RateLimitedError,
    ReconcilerError,
    ServerError,
    TransportError,
)
from reconciler.providers.base import ObservedRun, Provider, SecretUnavailable, StartRequest
from reconciler.providers.http import SendGuard, checked_sends
from reconciler.state.model import (
    Lockfile,
    ProviderState,
    RunRecord,
    SourceCommit,
    record_history,
    run_key,
)
from reconciler.state.store import JournalWriter


@dataclass
class ApplyResult:
    records: dict[str, RunRecord]
    done: list[Action] = field(default_factory=list)
    failures: list[tuple[Action, str]] = field(default_factory=list)
    interrupted: bool = False
    not_begun: list[Action] = field(default_factory=list)  # left because it was interrupted


# How old the plan's refresh may be for a keyless start to take it as its snapshot: a run
# started by someone else in the scope since then would be taken for ours after a crash
# before the start's answer (a snapshot just before the start narrows that to its wait).
SNAPSHOT_FRESH = 60.0


@dataclass
class RefreshedScopes:
    """Each scope's run ids as the plan's refresh listed them (a scope listed empty too), and
    when (``time.monotonic()``): the snapshot of an apply's first keyless start in a scope,
    where the provider lists scopes whole, instead of listing the scope again. A scope's
    time is when its own listing was sent where the provider lists scopes one by one (a
    refresh of 2,500 Runner jobs takes half a minute), else when the refresh began."""

    runs: dict[tuple[str, str], list[str]]
    taken: float
    listed_at: dict[tuple[str, str], float] = field(default_factory=dict)

    def take(self, instance: str, scope: str, now: float) -> list[str] | None:
        """The scope's runs at the refresh, once (a second start in the scope must see the
        first one's run: it lists again), and only while that listing is fresh."""
        runs = self.runs.pop((instance, scope), None)
        listed = self.listed_at.get((instance, scope), self.taken)
        return runs if runs is not None and now - listed <= SNAPSHOT_FRESH else None


@dataclass(frozen=True)
class Pacing:
    """How an apply may be stopped gracefully: the API calls of at most ``under_way[instance]``
    actions of an instance are under way at a time, and no action begins its calls once
    ``interrupted`` is set (the ones under way finish and are recorded)."""

    under_way: Mapping[str, int]
    interrupted: asyncio.Event


async def apply_plan(
    plan: Plan,
    providers: Mapping[str, Provider],
    journal: JournalWriter,
    pacing: Pacing | None = None,
    result: ApplyResult | None = None,
    refreshed: RefreshedScopes | None = None,
) -> ApplyResult:
    """``result``: filled as actions end, for whoever reports progress meanwhile.
    ``refreshed``: the scopes as the refresh of this very plan listed them, if it was made
    moments ago (not a saved plan)."""
    result = result if result is not None else ApplyResult(records=dict(plan.records))
    for action in plan.actions:
        if action.kind is ActionKind.FORGET:
            result.records.pop(action.name, None)
            result.done.append(action)
        elif action.kind is ActionKind.ADOPT:
            result.done.append(action)
    calls = [a for a in plan.actions if a.kind.calls_api]
    applier = _Applier(
        providers,
        journal,
        result,
        plan.source.files if plan.source else {},
        pacing,
        provider_clocks=plan.observed_at,
        refreshed=refreshed,
    )
    for action in calls:
        if action.start is not None and not action.start.desired.traits.keyed:
            place = (action.instance, action.start.desired.scope)
            applier.scope_locks.setdefault(place, asyncio.Lock())
    # No request leaves once the state's lock may no longer be ours (a lease outlived by a
    # pause), wherever the pause fell, nor one that acts unless the lock lasts its timeout
    # more: checked as each request is about to be written.
    late: list[str] = []
    with checked_sends(SendGuard(journal.held_for, late.append)):
        await asyncio.gather(*(applier.perform(a) for a in calls))
    if applier.journal_failure is not None:
        # What was done is not all recorded: the journal (as far as it goes) is the record, and
        # the next command replays it. Nothing is written from this apply.
        if late:
            raise JournalWriteError(f"{applier.journal_failure}{_written_late(late)}")
        raise applier.journal_failure
    result.interrupted = applier.interrupted()
    return result


def _written_late(requests: Sequence[str]) -> str:
    return (
        f"; {len(requests)} request(s) finished being written only after the state's lock "
        f"may have expired ({', '.join(requests)}: this process was paused while writing): "
        "a start among them may duplicate one its successor made: look at the provider for "
        "a second run of its spec"
    )


def unsendable_starts(actions: Sequence[Action], providers: Mapping[str, Provider]) -> list[str]:
    """Each start whose request its adapter cannot build or encode, one line each: checked
    before the first action, so that no apply stops halfway on a value."""
    problems = []
    for action in actions:
        provider = providers.get(action.instance)
        if action.start is None or provider is None:
            continue
        try:
            key = run_key(action.start.desired.key, action.start.attempt)
            provider.start_call(start_request(action.name, action.start, key)).check()
        except Exception as exc:  # an adapter's own failure on a value, whatever it is
            problems.append(
                f"{action.kind.value} {action.name}: its start request cannot be built: "
                f"{_unbuildable(exc)}; nothing was done"
            )
    return problems


def _unbuildable(exc: Exception) -> str:
    """Why a start request cannot be built, in words: never the exception's class name."""
    if isinstance(exc, SecretUnavailable):
        return f"a job secret cannot be used: {exc}"  # names the reference, never a value
    if isinstance(exc, OverflowError):
        return "a number, duration or date is out of the range the request can carry"
    if isinstance(exc, ValueError) and "JSON compliant" in str(exc):
        return "a number is not finite (NaN or infinity), which JSON cannot carry"
    if isinstance(exc, TypeError) and "JSON serializable" in str(exc):
        return "a value is of a kind JSON cannot carry"
    if isinstance(exc, KeyError):
        return f"the job has no {exc.args[0]!r}" if exc.args else "a value is missing"
    return str(exc) or "its provider's adapter failed on a value"


def start_request(name: str, order: StartOrder, key: str) -> StartRequest:
    desired = order.desired
    return StartRequest(
        name=name,
        run_key=key,
        job=desired.job,
        window_start=desired.window.start if desired.window else desired.occurrence,
        window_end=desired.window.end if desired.window else None,
        timeout=desired.timeout,
    )


class _NotBegun(Exception):
    """An interrupt came before the action's call was sent: nothing happened at the provider."""


@dataclass
class _Applier:
    """The actions of one apply, performed concurrently into one ``result``."""

    providers: Mapping[str, Provider]
    journal: JournalWriter
    result: ApplyResult
    commits: Mapping[str, str]  # spec file -> the commit that last changed it
    pacing: Pacing | None
    # Each provider's clock at the plan's listing: runs started since then are at least this
    # recent by the provider's own timestamps, whatever the local clock says.
    provider_clocks: Mapping[str, datetime | None]
    refreshed: RefreshedScopes | None = None
    scope_locks: dict[tuple[str, str | None], asyncio.Lock] = field(default_factory=dict)
    gates: dict[str, asyncio.Semaphore] = field(init=False)
    journal_failure: JournalWriteError | None = None  # once set, no action begins its calls

    def __post_init__(self) -> None:
        under_way = self.pacing.under_way if self.pacing else {}
        self.gates = {name: asyncio.Semaphore(n) for name, n in under_way.items()}

    def interrupted(self) -> bool:
        return self.pacing is not None and self.pacing.interrupted.is_set()

    @contextlib.asynccontextmanager
    async def begin(self, instance: str) -> AsyncIterator[None]:
        """Where an action's API calls begin: once interrupted, none does. The gate comes after
        a start's intent, so that the intents of many starts still share fsyncs."""
        async with self.gates.get(instance) or contextlib.nullcontext():
            if self.interrupted() or self.journal_failure is not None:
                raise _NotBegun
            self.journal.check_held()
            yield

    async def perform(self, action: Action) -> None:
        provider = self.providers[action.instance]
        try:
            if self.interrupted() or self.journal_failure is not None:
                raise _NotBegun
            if action.stop is not None:
                await self.stop(action.name, action.instance, action.stop, provider)
            if action.start is not None:
                order = action.start
                lock = self.scope_locks.get((action.instance, order.desired.scope))
                if lock is None:
                    await self.start(action.name, order, provider, prior_runs=None)
                else:
                    # Runs here cannot carry our key: snapshot the scope first, one start at a
                    # time, so that after a crash exactly one new run can be ours.
                    async with lock:
                        prior = self.refreshed_scope(action.instance, order)
                        if prior is None:
                            prior = await snapshot_scope(provider, order.desired.scope)
                        await self.start(action.name, order, provider, prior_runs=prior)
        except _NotBegun:
            self.result.not_begun.append(action)
        except JournalWriteError as exc:  # its call never began, or the journal keeps its intent
            self.journal_failure = self.journal_failure or exc
        except ReconcilerError as exc:
            self.result.failures.append((action, str(exc)))
        else:
            self.result.done.append(action)

    def refreshed_scope(self, instance: str, order: StartOrder) -> list[str] | None:
        scope = order.desired.scope
        if self.refreshed is None or scope is None:
            return None
        if not order.desired.traits.lists_scopes_whole:
            return None
        return self.refreshed.take(instance, scope, time.monotonic())

    def lookup_since(self, instance: str) -> datetime | None:
        """Where a lookup for a start whose answer was lost may begin: the provider's clock at
        the plan's listing, less a margin; with no such clock, no bound. Never the local clock:
        a provider whose clock is behind ours would list the new run as older than the bound,
        and the start would be judged absent and made again."""
        clock = self.provider_clocks.get(instance)
        return clock - LOOKUP_MARGIN if clock is not None else None

    async def stop(self, name: str, instance: str, order: StopOrder, provider: Provider) -> None:
        record = self.result.records.get(name)
        # As for a start, the intent comes first: a run found stopped after a kill or a lost
        # answer is then known as stopped by us, not as stopped outside reconciler.
        await self.journal.stop_intent(name, order.run_id, order.reason)
        if record is not None and record.run_id == order.run_id:
            stopping = record.model_copy(update={"stop_reason": order.reason})
            self.result.records[name] = stopping
        try:
            async with self.begin(instance):
                run = await provider.stop_run(order.run_id, record.job if record else {})
        except (_NotBegun, ApiError) as exc:
            if _surely_without_effect(exc) and record is not None:  # the run was not stopped
                self.result.records[name] = record
            raise
        await self.journal.stop_requested(name, order.run_id, order.reason, run.status)
        if record is not None and record.run_id == order.run_id:
            self.result.records[name] = with_observation(record, run).model_copy(
                update={"stop_reason": order.reason}
            )

    async def start(
        self, name: str, order: StartOrder, provider: Provider, *, prior_runs: list[str] | None
    ) -> None:
        desired = order.desired
        record = new_record(
            desired,
            attempt=order.attempt,
            failures=order.failures,
            prior_runs=prior_runs,
            commit=self.commits.get(desired.spec_file),
        )
        previous = self.result.records.get(name)
        await self.journal.intent(record)
        self.result.records[name] = record
        request = start_request(name, order, record.run_key)
        try:
            async with self.begin(desired.instance):
                since = self.lookup_since(desired.instance)
                run = await _start_once(provider, request, record, self.result, since)
        except (_NotBegun, ApiError) as exc:
            if _surely_without_effect(exc):  # no run exists: the intent is void
                await self.journal.start_failed(name)
                if previous is None:
                    del self.result.records[name]
                else:
                    self.result.records[name] = previous
            # Otherwise the run may exist: the intent stays, and the next plan adopts it.
            raise
        await self.journal.started(name, run.run_id, run.status, run.started_at)
        self.result.records[name] = with_observation(record, run)


def _surely_without_effect(exc: Exception) -> bool:
    """Nothing was sent (an interrupt), or the API refused the call outright (4xx but 429)."""
    if isinstance(exc, ApiError):
        return exc.status is not None and 400 <= exc.status < 500 and exc.status != 429
    return True


async def snapshot_scope(provider: Provider, scope: str | None) -> list[str]:
    """Ids of the runs a scope holds now: what an intent records before a keyless start."""
    listing = await provider.list_runs(since=None, scopes=[scope] if scope else [])
    return sorted(run.run_id for run in listing.runs if run.scope == scope)


START_ATTEMPTS = 3
LOOKUP_MARGIN = timedelta(minutes=5)


async def _start_once(
    provider: Provider,
    request: StartRequest,
    record: RunRecord,
    result: ApplyResult,
    since: datetime | None,
) -> ObservedRun:
    """Start, retrying only when the run surely does not exist.

    A 429 means the API did not act: wait as told and try again. A 5xx or a lost connection
    means it may have: look for the run (by key, or by the snapshot where runs carry none)
    and retry only if it is not there.
    """
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            return await provider.start(request)
        except RateLimitedError as exc:
            if attempt == START_ATTEMPTS:
                raise
            await asyncio.sleep(exc.retry_after)
        except (ServerError, TransportError):
            found = await _find_started(provider, record, result, since)
            if found is not None:
                return found
            if attempt == START_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


async def _find_started(
    provider: Provider, record: RunRecord, result: ApplyResult, since: datetime | None
) -> ObservedRun | None:
    scopes = [record.scope] if record.scope else []
    listing = await provider.list_runs(since=since, scopes=scopes)
    if record.prior_runs is None:
        return next((r for r in listing.runs if r.run_key == record.run_key), None)
    claimed = {r.run_id for r in result.records.values() if r.instance == record.instance}
    new = unclaimed_new_runs(record, listing.runs, claimed.__contains__)
    if len(new) > 1:
        ids = ", ".join(sorted(r.run_id for r in new))
        raise AmbiguousStartError(
            f"a start on {record.scope} may have happened and {len(new)} new runs ({ids}) "
            "could be it; not guessing"
        )
    return new[0] if new else None


def fold_result(lock: Lockfile, plan: Plan, records: Mapping[str, RunRecord]) -> Lockfile:
    """The lockfile after ``plan`` was applied and left ``records``."""
    providers = dict(lock.providers)
    for instance, at in plan.observed_at.items():
        if at is not None:
            providers[instance] = ProviderState(observed_at=at)
    schedules = record_history(plan.schedules, plan.records, records)
    update: dict[str, object] = {
        "runs": dict(sorted(records.items())),
        "providers": dict(sorted(providers.items())),
        "schedules": dict(sorted(schedules.items())),
    }
    source = plan.source
    if source is not None:
        update["source"] = SourceCommit(commit=source.commit, dirty=source.dirty)
    return lock.model_copy(update=update)
