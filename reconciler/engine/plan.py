"""Planning: a pure function of (desired runs, lockfile, observed runs, now) -> Plan.

No files, HTTP, clock or environment here: every input is an argument, so ``plan`` is a
trustworthy dry run and every rule is table-tested (tests/engine/test_plan.py and beside it).
The planner is one class of rule families, each in its module: a spec's new or changed
revision (here), a recorded run of its revision (``plan_runs``), a spec that runs after
others (``plan_after``), a scheduled spec (``plan_scheduled``); ``rules`` is what they share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler.engine.actions import (
    Action,
    ActionKind,
    FieldChange,
    StartOrder,
    StopOrder,
)
from reconciler.engine.desired import DesiredRun
from reconciler.engine.diff import diff_record
from reconciler.engine.facts import Facts
from reconciler.engine.plan_after import AfterRules
from reconciler.engine.plan_runs import RunRules
from reconciler.engine.plan_scheduled import ScheduledRules
from reconciler.engine.records import new_record, with_observation
from reconciler.engine.rules import action, is_active, record_action, stop_order
from reconciler.engine.schedules import Step, step
from reconciler.spec.models import ConcurrencyPolicy, DesiredState
from reconciler.spec.runs import ObservedRun, RunStatus, StopReason
from reconciler.state.model import Lockfile, RunRecord, ScheduleState


@dataclass(frozen=True)
class Planned:
    records: dict[str, RunRecord]
    actions: list[Action]
    schedules: dict[str, ScheduleState]


def plan_actions(
    desired: Sequence[DesiredRun],
    lock: Lockfile,
    observed: Mapping[str, Sequence[ObservedRun]],
    *,
    now: datetime,
    prune: bool,
    unreachable: Mapping[str, str] | None = None,
    upstream: Sequence[DesiredRun] = (),
) -> Planned:
    """Decide, for every spec and every recorded run, what should happen now.

    ``unreachable``: instances whose runs could not be observed, and why; their specs and
    records get an ``error`` action and keep their records as they are. ``upstream``: specs
    not planned now (another's target) that those planned may run after.
    """
    down = unreachable or {}
    planner = _Planner(Facts.index(observed, lock), now)
    planner.specs = {d.name: d for d in [*upstream, *desired]}
    planner.refresh(lock)
    # Every schedule's step first: a spec that runs after a scheduled one, planned before
    # it, must already know which of its occurrences were missed.
    planner.steps = {
        spec.name: step(spec, planner.records.get(spec.name), lock.schedules.get(spec.name), now)
        for spec in [*upstream, *desired]
        if spec.schedule is not None and spec.instance not in down
    }
    for spec in desired:
        if spec.instance in down:
            planner.actions.append(action(ActionKind.ERROR, spec, down[spec.instance]))
            if spec.name in lock.schedules:
                planner.schedules[spec.name] = lock.schedules[spec.name]
        elif spec.schedule is not None:
            planner.actions.extend(planner.plan_scheduled(spec))
        else:
            planner.actions.append(planner.plan_after(spec))
    wanted = {d.name for d in desired}
    for name in sorted(set(planner.records) - wanted):
        record = planner.records[name]
        if record.instance in down:
            planner.actions.append(record_action(ActionKind.ERROR, record, down[record.instance]))
        else:
            planner.actions.append(_plan_orphan(record, prune))
    return Planned(records=planner.records, actions=planner.actions, schedules=planner.schedules)


class _Planner(AfterRules, ScheduledRules, RunRules):
    def __init__(self, facts: Facts, now: datetime) -> None:
        self.facts = facts
        self.now = now
        self.records: dict[str, RunRecord] = {}
        self.actions: list[Action] = []
        self.schedules: dict[str, ScheduleState] = {}
        self.steps: dict[str, Step] = {}
        self.specs: dict[str, DesiredRun] = {}  # every spec, by name: what others run after

    # -- refresh -------------------------------------------------------------------------

    def refresh(self, lock: Lockfile) -> None:
        """Records with what the provider reports now; unlisted runs keep their status."""
        self.records = {name: self._refreshed(r) for name, r in lock.runs.items()}
        # Keyless adoption can free the way for another: repeat until nothing changes.
        changed = True
        while changed:
            changed = False
            for name, record in self.records.items():
                if record.run_id is None and record.prior_runs is not None:
                    found = self.facts.new_runs(record)
                    if len(found) == 1:
                        self._claim(name, with_observation(record, found[0]))
                        changed = True

    def _refreshed(self, record: RunRecord) -> RunRecord:
        if record.run_id is not None:
            run = self.facts.by_id.get((record.instance, record.run_id))
            return with_observation(record, run) if run else record
        if record.prior_runs is None:
            # A start whose answer was never recorded: the run, if any, carries our key.
            for attempt, run in self.facts.by_key.get((record.instance, record.key), []):
                if attempt == record.attempt:
                    return with_observation(record, run)
        return record

    def _claim(self, name: str, record: RunRecord) -> None:
        self.records[name] = record
        if record.run_id is not None:
            self.facts.claimed[(record.instance, record.run_id)] = name

    # -- per spec ------------------------------------------------------------------------

    def plan_spec(self, spec: DesiredRun, why: str | None = None) -> Action:
        """The decision for one spec; every rule below returns one. ``why``: what makes a new
        run due, when not a new or changed spec (a scheduled occurrence)."""
        record = self.records.get(spec.name)
        if (record is None or record.key != spec.key) and spec.traits.keyed:
            adopted = _find_by_key(spec, self.facts.by_key)
            if adopted is not None:
                self._claim(spec.name, adopted)
                reason = "found at the provider by its run key"
                return action(ActionKind.ADOPT, spec, reason, run_id=adopted.run_id)
        if record is None:
            return self._start(spec, attempt=1, failures=0, reason=why or "new spec")
        if record.key != spec.key:
            return self._new_revision(spec, record, why or "spec changed")
        return self.same_revision(spec, record)

    def _start(
        self,
        spec: DesiredRun,
        *,
        attempt: int,
        failures: int,
        reason: str,
        kind: ActionKind = ActionKind.START,
        changes: tuple[FieldChange, ...] = (),
        stop_run: str | None = None,
    ) -> Action:
        window = spec.window
        if spec.state is DesiredState.STOPPED:
            return action(ActionKind.DONE, spec, "no run active (state: stopped)")
        elif window and self.now < window.start and not spec.traits.schedules_window:
            return action(ActionKind.WAIT, spec, f"window opens at {window.start.isoformat()}")
        elif window and self.now >= window.end:
            closed = f"window closed at {window.end.isoformat()}"
            if attempt == 1:  # attempts count per revision: none of this one ever started
                return action(ActionKind.MISSED, spec, f"{closed} before any run started")
            else:
                return action(ActionKind.DONE, spec, closed)
        elif (busy := self._busy(spec, stop_run)) is not None:
            return action(ActionKind.WAIT, spec, busy, changes=changes)
        else:
            return action(
                kind,
                spec,
                reason,
                start=StartOrder(desired=spec, attempt=attempt, failures=failures),
                stop=StopOrder(run_id=stop_run, reason=StopReason.REPLACE) if stop_run else None,
                changes=changes,
            )

    def _busy(self, spec: DesiredRun, own_run: str | None) -> str | None:
        """Why a start must wait on an API with one active run per scope, if it must."""
        if not spec.traits.exclusive_scope:
            return None
        for run in self.facts.by_scope.get((spec.instance, spec.scope), []):
            if run.status.is_active and run.run_id != own_run:
                holder = self.facts.claimed.get((spec.instance, run.run_id))
                whose = f"of spec {holder}" if holder else "not started by reconciler"
                return f"{spec.scope} is busy with run {run.run_id} ({whose}); one run at a time"
        return None

    def _new_revision(self, spec: DesiredRun, previous: RunRecord, why: str) -> Action:
        changes = diff_record(previous, spec)
        if not is_active(previous):
            return self._start(spec, attempt=1, failures=0, reason=why, changes=changes)
        elif spec.state is DesiredState.STOPPED:
            return self.stop(spec, previous, StopReason.SPEC, "state: stopped")
        elif spec.concurrency is ConcurrencyPolicy.ALLOW and not spec.traits.exclusive_scope:
            reason = f"{why}; run {previous.run_id} keeps running (concurrency: allow)"
            return self._start(spec, attempt=1, failures=0, changes=changes, reason=reason)
        elif spec.concurrency is not ConcurrencyPolicy.REPLACE or spec.prevent_stop:
            if spec.prevent_stop:
                held = "prevent_stop"
            elif spec.concurrency is ConcurrencyPolicy.FORBID:
                held = "concurrency: forbid"
            else:
                held = "concurrency: allow, but one run at a time here"
            reason = f"{why}; waiting for run {previous.run_id} to end ({held})"
            return action(ActionKind.WAIT, spec, reason, changes=changes)
        elif spec.traits.exclusive_scope:
            # One run per scope: the new one can start only once the old one has stopped.
            reason = f"{why}; stop run {previous.run_id} first, start on a later apply"
            return action(
                ActionKind.STOP,
                spec,
                reason,
                stop=stop_order(previous, StopReason.REPLACE),
                changes=changes,
            )
        else:
            return self._start(
                spec,
                attempt=1,
                failures=0,
                kind=ActionKind.REPLACE,
                changes=changes,
                stop_run=previous.run_id,
                reason=f"{why}; stop run {previous.run_id}, then start",
            )

    def stop(self, spec: DesiredRun, record: RunRecord, why: StopReason, reason: str) -> Action:
        if record.status is RunStatus.STOPPING:
            return action(ActionKind.IN_PROGRESS, spec, f"run {record.run_id} is stopping")
        elif spec.prevent_stop:
            left = f"{reason}, but prevent_stop is set; run {record.run_id} left running"
            return action(ActionKind.DRIFT, spec, left)
        else:
            return action(ActionKind.STOP, spec, reason, stop=stop_order(record, why))


def _find_by_key(
    spec: DesiredRun, by_key: Mapping[tuple[str, str], list[tuple[int, ObservedRun]]]
) -> RunRecord | None:
    found = by_key.get((spec.instance, spec.key))
    if not found:
        return None
    attempt, run = max(found, key=lambda pair: pair[0])
    return with_observation(new_record(spec, attempt=attempt, failures=0), run)


def _plan_orphan(record: RunRecord, prune: bool) -> Action:
    def act(kind: ActionKind, reason: str, **fields: Any) -> Action:
        return record_action(kind, record, reason, **fields)

    if not is_active(record):
        return act(ActionKind.FORGET, "spec removed and its run has ended", run_id=record.run_id)
    if record.status is RunStatus.STOPPING:
        return act(ActionKind.IN_PROGRESS, f"spec removed; run {record.run_id} is stopping")
    if not prune:
        return act(
            ActionKind.ORPHAN, f"spec removed; run {record.run_id} still active (prune is off)"
        )
    if record.prevent_stop:
        return act(ActionKind.ORPHAN, f"spec removed; run {record.run_id} kept (prevent_stop)")
    return act(ActionKind.STOP, "spec removed (prune)", stop=stop_order(record, StopReason.PRUNE))
