"""An apply in progress: the state lock held from planning to the write, the actions
performed with graceful interrupts, and what happened recorded."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from reconciler.app.desired import load_desired
from reconciler.app.planning import (
    RefreshProgress,
    apply_failures,
    check_targets,
    observe_and_plan,
    refresh_failures,
)
from reconciler.app.runtime import Runtime
from reconciler.app.saved_plan import SavedPlanCheck
from reconciler.app.scopes import used_instances
from reconciler.app.workspace import Environment, Workspace
from reconciler.engine.actions import Plan, StartOrder
from reconciler.engine.apply import (
    ApplyResult,
    Pacing,
    RefreshedScopes,
    apply_plan,
    fold_result,
    snapshot_scope,
    unsendable_starts,
)
from reconciler.engine.desired import DesiredRun
from reconciler.engine.records import new_record
from reconciler.errors import (
    ApplyError,
    ApplyInterrupted,
    StateChangedError,
    StateError,
)
from reconciler.providers.base import Provider
from reconciler.spec.models import StateBackend
from reconciler.state.model import Lockfile
from reconciler.state.store import LockedState


@contextmanager
def _graceful_interrupts(interrupted: asyncio.Event) -> Iterator[None]:
    """SIGINT or SIGTERM during an apply (Ctrl-C, a cancelled CI job): the first one lets no
    new action begin, while those under way finish and are recorded, as Terraform does; a
    second one stops at once (the journal keeps what was under way for the next command)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}

    def on_signal() -> None:
        if interrupted.is_set() and task is not None:
            task.cancel()
            return
        interrupted.set()
        sys.stderr.write(
            "\nInterrupted: no new action begins; finishing the ones under way "
            "(interrupt again to stop at once).\n"
        )

    installed = []
    try:
        for signum in previous:
            loop.add_signal_handler(signum, on_signal)
            installed.append(signum)
    except (ValueError, RuntimeError, NotImplementedError):
        pass  # not the main thread, or Windows: signals act as they did
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
            signal.signal(signum, previous[signum])


class Progress(Protocol):
    """Where an apply's progress goes (a terminal's live line, a CI log's heartbeat)."""

    every: float  # seconds between reports

    def report(self, result: ApplyResult, elapsed: float) -> None: ...

    def finish(self) -> None: ...


_JOURNAL_KEPT = "; what this apply did is kept in the journal, and the next command replays it"


# A record's fields that a refresh may change: the rest is what started the run, and comes
# from the lockfile or, for a run adopted by its key, from the spec.


@dataclass
class ApplySession:
    """An apply in progress: holds the state lock from planning to the lockfile write."""

    ws: Workspace
    env: Environment
    state: LockedState
    runtime: Runtime
    lock: Lockfile
    desired: list[DesiredRun]
    notices: list[str] = field(default_factory=list)
    progress: Progress | None = None  # told what is done while actions are under way
    # The last plan made here, and its scopes as its refresh listed them.
    _refreshed: tuple[Plan, RefreshedScopes] | None = field(default=None, repr=False)

    def plan(self, *, targets: Sequence[str] = (), progress: RefreshProgress | None = None) -> Plan:
        check_targets(self.desired, targets, self.lock.runs)
        pool = self.runtime.providers
        plan, refreshed = self.runtime.run(
            observe_and_plan(
                pool, self.ws, self.env, self.lock, self.desired, targets, progress=progress
            )
        )
        self._refreshed = (plan, refreshed)
        return plan

    def check_saved(self, plan: Plan, display: str) -> None:
        """A saved plan applies only as it was made, to the state and specs it was made from."""
        check = SavedPlanCheck(self.lock, self.desired, self.ws.config, self.env.environ)
        check.check(plan, display)

    def execute(self, plan: Plan) -> ApplyResult:
        """Perform the plan and record what did happen, failures included
        (``apply_failures`` lists them)."""
        self.state.check_writable()
        try:
            result = self.runtime.run(self._apply(plan))
        except asyncio.CancelledError:  # a second interrupt (_graceful_interrupts)
            raise ApplyInterrupted(
                "interrupted twice: stopped at once; the journal keeps the starts that were "
                "under way, and the next command adopts them"
            ) from None
        self._record(plan, result)
        return result

    def claim(self, plan: Plan) -> int:
        """Write the plan's starts into the lockfile as claims (no run id yet), so that other
        appliers who see them wait instead of starting the same runs. The number claimed."""
        starts = {a.name: a.start for a in plan.actions if a.start is not None}
        if not starts:
            return 0
        snapshots = self.runtime.run(self._snapshots(starts))
        now = datetime.now(UTC)
        runs = dict(plan.records)
        for name, order in starts.items():
            record = new_record(
                order.desired,
                attempt=order.attempt,
                failures=order.failures,
                prior_runs=snapshots.get(name),
            )
            runs[name] = record.model_copy(update={"claimed_at": now})
        self._write(self.lock.model_copy(update={"runs": dict(sorted(runs.items()))}))
        return len(starts)

    async def _snapshots(self, starts: Mapping[str, StartOrder]) -> dict[str, list[str]]:
        """Run ids of each keyless start's scope, as a start would snapshot them."""
        keyless = {n: o.desired for n, o in starts.items() if not o.desired.traits.keyed}
        if not keyless:
            return {}
        providers = await self._providers()
        return {
            name: await snapshot_scope(providers[desired.instance], desired.scope)
            for name, desired in keyless.items()
        }

    async def _providers(self) -> dict[str, Provider]:
        return await self.runtime.providers.get(self.ws, self.env, self._instances())

    def _write(self, lock: Lockfile) -> None:
        self.lock = self.state.write(lock)

    def _refreshed_scopes(self, plan: Plan) -> RefreshedScopes | None:
        """The scopes as the refresh of ``plan`` listed them, when it was made here (not a
        saved plan), once."""
        if self._refreshed is None or self._refreshed[0] is not plan:
            return None
        refreshed = self._refreshed[1]
        self._refreshed = None
        return refreshed

    async def _apply(self, plan: Plan) -> ApplyResult:
        # As many actions under way as calls may be: an interrupt leaves that many to finish.
        under_way = {name: p.concurrency for name, p in self.ws.config.providers.items()}
        pacing = Pacing(under_way, asyncio.Event())
        providers = await self._providers()
        unsendable = unsendable_starts(plan.actions, providers)
        if unsendable:  # before the first action, and before a journal exists
            raise ApplyError(unsendable)
        result = ApplyResult(records=dict(plan.records))
        with self.state.journal() as journal, _graceful_interrupts(pacing.interrupted):
            async with self._reporting(result):
                refreshed = self._refreshed_scopes(plan)
                return await apply_plan(plan, providers, journal, pacing, result, refreshed)

    @contextlib.asynccontextmanager
    async def _reporting(self, result: ApplyResult) -> AsyncIterator[None]:
        """Progress reports while the block runs, if anyone wants them."""
        progress = self.progress
        if progress is None:
            yield
            return
        began = time.monotonic()

        async def report() -> None:
            while True:
                await asyncio.sleep(progress.every)
                progress.report(result, time.monotonic() - began)

        reporter = asyncio.create_task(report())
        try:
            yield
        finally:
            reporter.cancel()
            progress.finish()

    def record_refresh(self, plan: Plan) -> None:
        """With nothing to do, keep the lockfile as it is unless a recorded status moved or
        a schedule's state did (first recorded, occurrences missed)."""
        if plan.records != self.lock.runs or plan.schedules != self.lock.schedules:
            self._record(plan, ApplyResult(records=dict(plan.records)))

    def _record(self, plan: Plan, result: ApplyResult) -> None:
        try:
            self._write(fold_result(self.lock, plan, result.records))
        except StateError as exc:
            journaled = result.failures or any(a.kind.calls_api for a in result.done)
            if not journaled:
                raise
            raise StateError(f"{exc}{_JOURNAL_KEPT}") from None
        self.state.clear_journal()

    def _instances(self) -> list[str]:
        return used_instances(self.ws, self.lock, self.desired)


@contextmanager
def apply_session(
    ws: Workspace,
    env: Environment,
    command: str,
    *,
    lock_timeout: float = 0.0,
    runtime: Runtime | None = None,
    targets: Sequence[str] = (),
) -> Iterator[ApplySession]:
    """The state locked (and any journal replayed) for one apply; ``runtime`` (``watch``'s)
    keeps the provider adapters beyond it. With ``targets``, only the provider instances they
    may act on are locked, where the store can (``target_instances``)."""
    with contextlib.ExitStack() as stack:
        if runtime is None:  # one for this session: its phases share the provider adapters
            runtime = stack.enter_context(Runtime())
        desired = load_desired(ws)
        finer = targets and ws.config.state.backend is StateBackend.POSTGRES  # the file: one lock
        scopes = target_instances(ws.store.read(), desired, targets) if finer else ()
        state = stack.enter_context(ws.store.locked(command, timeout=lock_timeout, scopes=scopes))
        recovered = state.recover()
        session = ApplySession(ws, env, state, runtime, state.read(), desired)
        if scopes and target_instances(session.lock, desired, targets) != scopes:
            raise StateChangedError(
                "a targeted spec's record moved to another provider instance while its "
                "lock was being taken; nothing was done: apply again"
            )
        if state.taken_over is not None:
            session.notices.append(
                f"the state lock of {state.taken_over} was stale: its holder is gone; taken over"
            )
        if recovered:
            session.notices.append("an interrupted apply left a journal: replayed first")
        yield session


def target_instances(
    lock: Lockfile, desired: Sequence[DesiredRun], targets: Sequence[str]
) -> list[str]:
    """The provider instances a plan of ``targets`` may act on: each target's spec's, and its
    record's (a spec moved to another instance stops the run on the old one)."""
    chosen = set(targets)
    instances = {d.instance for d in desired if d.name in chosen}
    instances |= {r.instance for n, r in lock.runs.items() if n in chosen}
    return sorted(instances)


@dataclass(frozen=True)
class Converged:
    """What one converge did: the apply's result (None when there was nothing to do, or it
    was declined) and its failures, one line each, to report after recording them."""

    result: ApplyResult | None
    failures: list[str]
    declined: bool = False


def converge(
    session: ApplySession,
    plan: Plan,
    *,
    proceed: Callable[[Plan], bool] = lambda plan: True,
    record_unchanged: bool = True,
) -> Converged:
    """The one policy of ``apply``, ``apply --push`` and ``watch``. Nothing to do: record the
    statuses the refresh moved (``record_unchanged``; off where git must stay quiet).
    Otherwise, if ``proceed(plan)`` (a confirmation, a pushed claim), perform the plan and
    record what did happen, failures included."""
    if not plan.changes:
        if record_unchanged:
            session.record_refresh(plan)
        return Converged(None, refresh_failures(plan))
    if not proceed(plan):
        return Converged(None, [], declined=True)
    result = session.execute(plan)
    return Converged(result, apply_failures(plan, result))
