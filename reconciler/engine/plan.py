"""Planning: a pure function of (desired runs, lockfile, observed runs, now) -> Plan.

No files, HTTP, clock or environment here: every input is an argument, so ``plan`` is a
trustworthy dry run and every rule is table-tested (tests/engine/test_plan.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from reconciler.engine.actions import (
    Action,
    ActionKind,
    FieldChange,
    ScheduleNote,
    StartOrder,
    StopOrder,
)
from reconciler.engine.desired import DesiredRun
from reconciler.engine.diff import diff_record
from reconciler.engine.records import new_record, unclaimed_new_runs, with_observation
from reconciler.engine.schedules import local_time, schedule_of, step
from reconciler.spec.models import ConcurrencyPolicy, DesiredState
from reconciler.spec.runs import ObservedRun, RunStatus, StopReason
from reconciler.state.model import Lockfile, RunRecord, ScheduleState, parse_run_key

CLAIM_LEASE = timedelta(minutes=15)  # how long another applier's pushed claim is honoured


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
    planner = _Planner(_Facts.index(observed, lock), now)
    planner.specs = {d.name: d for d in [*upstream, *desired]}
    planner.refresh(lock)
    for spec in desired:
        if spec.instance in down:
            planner.actions.append(_action(ActionKind.ERROR, spec, down[spec.instance]))
            if spec.name in lock.schedules:
                planner.schedules[spec.name] = lock.schedules[spec.name]
        elif spec.schedule is not None:
            planner.actions.extend(planner.plan_scheduled(spec, lock.schedules.get(spec.name)))
        else:
            planner.actions.append(planner.plan_after(spec))
    wanted = {d.name for d in desired}
    for name in sorted(set(planner.records) - wanted):
        record = planner.records[name]
        if record.instance in down:
            planner.actions.append(_record_action(ActionKind.ERROR, record, down[record.instance]))
        else:
            planner.actions.append(_plan_orphan(record, prune))
    return Planned(records=planner.records, actions=planner.actions, schedules=planner.schedules)


Place = tuple[str, str | None]  # (instance, scope)


@dataclass
class _Facts:
    """The observed runs, indexed the ways the rules look them up."""

    by_id: dict[tuple[str, str], ObservedRun]
    by_key: dict[tuple[str, str], list[tuple[int, ObservedRun]]]
    by_scope: dict[Place, list[ObservedRun]]
    claimed: dict[tuple[str, str], str]  # (instance, run id) -> the spec name recording it

    @classmethod
    def index(cls, observed: Mapping[str, Sequence[ObservedRun]], lock: Lockfile) -> _Facts:
        facts = cls({}, {}, {}, {})
        for instance, runs in observed.items():
            for run in runs:
                facts.by_id[(instance, run.run_id)] = run
                facts.by_scope.setdefault((instance, run.scope), []).append(run)
                parsed = parse_run_key(run.run_key) if run.run_key else None
                if parsed:
                    facts.by_key.setdefault((instance, parsed[0]), []).append((parsed[1], run))
        for record in lock.runs.values():
            if record.run_id is not None:
                facts.claimed[(record.instance, record.run_id)] = record.name
        return facts

    def new_runs(self, record: RunRecord) -> list[ObservedRun]:
        """For a keyless start never confirmed: runs of its scope that appeared after the
        intent's snapshot and that no record claims."""
        return unclaimed_new_runs(
            record,
            self.by_scope.get((record.instance, record.scope), []),
            lambda run_id: (record.instance, run_id) in self.claimed,
        )


class _Planner:
    def __init__(self, facts: _Facts, now: datetime) -> None:
        self.facts = facts
        self.now = now
        self.records: dict[str, RunRecord] = {}
        self.actions: list[Action] = []
        self.schedules: dict[str, ScheduleState] = {}
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
                return _action(ActionKind.ADOPT, spec, reason, run_id=adopted.run_id)
        if record is None:
            return self._start(spec, attempt=1, failures=0, reason=why or "new spec")
        if record.key != spec.key:
            return self._new_revision(spec, record, why or "spec changed")
        return self._same_revision(spec, record)

    # -- specs that run after others ------------------------------------------------------

    def plan_after(self, spec: DesiredRun, why: str | None = None) -> Action:
        """A spec with ``after``: its run follows the latest successful runs of the specs
        named, and waits (or is blocked) until they have one."""
        if not spec.after or spec.state is DesiredState.STOPPED:
            return self.plan_spec(spec, why)
        followed: dict[str, str] = {}
        waiting: list[str] = []
        blocked: list[str] = []
        for name in spec.after:
            verdict, detail = self._upstream(spec, name)
            if verdict == "ok":
                followed[name] = detail
            else:
                (blocked if verdict == "blocked" else waiting).append(f"{name} ({detail})")
        record = self.records.get(spec.name)
        if blocked or waiting:
            reason = "after " + ", ".join([*blocked, *waiting])
            if record is not None and _is_active(record):
                reason = f"run {record.run_id} is {record.status.value}; the next one is {reason}"
                return _action(ActionKind.IN_PROGRESS, spec, reason)
            return _action(ActionKind.BLOCKED if blocked else ActionKind.WAIT, spec, reason)
        if why is None and record is not None and record.revision == spec.revision:
            runs = ", ".join(f"{name} run {self.records[name].run_id}" for name in followed)
            why = f"after {runs} succeeded"
        return self.plan_spec(spec.following(followed), why)

    def _upstream(self, spec: DesiredRun, name: str) -> tuple[str, str]:
        """``("ok", run key)`` when spec ``name`` has a successful run to follow, else
        ``("wait", why)`` or ``("blocked", why)``. Its run must be of its current revision,
        and for two scheduled specs, of the same occurrence."""
        upstream = self.specs.get(name)
        if upstream is None:  # refused when the specs are read; here for a saved plan's sake
            return "blocked", "no such spec"
        record = self.records.get(name)
        current = (
            record is not None
            and record.revision == upstream.revision
            and (upstream.schedule is None or spec.occurrence in (None, record.occurrence))
        )
        if record is None or not current:
            if upstream.state is DesiredState.STOPPED:
                return "blocked", "state: stopped"
            if upstream.window and self.now >= upstream.window.end:
                return "blocked", "its window closed before a run started"
            return "wait", "no run yet"
        status = record.status
        if record.run_id is None:
            return "wait", "starting"
        if status is RunStatus.SUCCEEDED:
            return "ok", record.run_key
        if status.is_active:
            return "wait", status.value
        if status is RunStatus.FAILED or record.stop_reason is StopReason.TIMEOUT:
            if record.failures + 1 <= upstream.retry_limit:
                return "wait", f"run {record.run_id} failed; it is retried"
            return "blocked", f"run {record.run_id} failed"
        return "blocked", f"run {record.run_id} was stopped"

    # -- scheduled specs -----------------------------------------------------------------

    def plan_scheduled(self, spec: DesiredRun, state: ScheduleState | None) -> list[Action]:
        """A missed action for the occurrences missed, if any, then the decision for the
        occurrence due now, or for the latest occurrence's run."""
        schedule = schedule_of(spec)
        record = self.records.get(spec.name)
        this = step(spec, record, state, self.now)
        self.schedules[spec.name] = this.state
        note = ScheduleNote(timezone=schedule.timezone, next_at=this.next_at)
        actions = []
        if this.missed:
            times = ", ".join(local_time(m.at, schedule) for m in this.missed[-3:])
            more = len(this.missed) - 3
            listed = f"{times} and {more} earlier" if more > 0 else times
            earlier = "; earlier ones too, not listed" if this.missed_earlier else ""
            reason = f"occurrence(s) missed: {listed} ({this.missed[-1].reason}){earlier}"
            missed = note.model_copy(
                update={"missed": this.missed, "missed_earlier": this.missed_earlier}
            )
            actions.append(_action(ActionKind.MISSED, spec, reason, schedule=missed))
        if this.desired is None:
            decision = self._between_occurrences(spec, record, this.next_at)
        elif this.is_due:
            due = f"occurrence {local_time(this.desired.occurrence or self.now, schedule)} is due"
            decision = self.plan_after(this.desired, why=due)
        else:
            decision = self.plan_after(this.desired)
        occurrence = this.desired.occurrence if this.desired is not None else None
        note = note.model_copy(update={"occurrence": occurrence})
        return [*actions, decision.model_copy(update={"schedule": note})]

    def _between_occurrences(
        self, spec: DesiredRun, record: RunRecord | None, next_at: datetime | None
    ) -> Action:
        """No occurrence due, and the record (if any) holds a run of an earlier revision, or
        of the time before the spec had its schedule: it finishes as it is."""
        schedule = schedule_of(spec)
        upcoming = local_time(next_at, schedule) if next_at else "none"
        if spec.state is DesiredState.STOPPED:
            waiting = "no occurrence starts (state: stopped)"
        elif schedule.suspend:
            waiting = "schedule suspended"
        else:
            waiting = f"next occurrence {upcoming}"
        if record is None:
            return _action(ActionKind.WAIT, spec, waiting)
        of = (
            f"of occurrence {local_time(record.occurrence, schedule)}"
            if record.occurrence
            else "started before the spec had a schedule"
        )
        if _is_active(record) and spec.state is DesiredState.STOPPED:
            return self._stop(spec, record, StopReason.SPEC, "state: stopped")
        if _is_active(record):
            reason = f"run {record.run_id} {of} is {record.status.value}; {waiting}"
            return _action(ActionKind.IN_PROGRESS, spec, reason)
        if record.run_id is None:
            return _action(ActionKind.DONE, spec, f"start {of} not confirmed; {waiting}")
        return _action(
            ActionKind.DONE, spec, f"run {record.run_id} {of} {record.status.value}; {waiting}"
        )

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
            return _action(ActionKind.DONE, spec, "no run active (state: stopped)")
        elif window and self.now < window.start and not spec.traits.schedules_window:
            return _action(ActionKind.WAIT, spec, f"window opens at {window.start.isoformat()}")
        elif window and self.now >= window.end:
            closed = f"window closed at {window.end.isoformat()}"
            if attempt == 1:  # attempts count per revision: none of this one ever started
                return _action(ActionKind.MISSED, spec, f"{closed} before any run started")
            else:
                return _action(ActionKind.DONE, spec, closed)
        elif (busy := self._busy(spec, stop_run)) is not None:
            return _action(ActionKind.WAIT, spec, busy, changes=changes)
        else:
            return _action(
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
        if not _is_active(previous):
            return self._start(spec, attempt=1, failures=0, reason=why, changes=changes)
        elif spec.state is DesiredState.STOPPED:
            return self._stop(spec, previous, StopReason.SPEC, "state: stopped")
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
            return _action(ActionKind.WAIT, spec, reason, changes=changes)
        elif spec.traits.exclusive_scope:
            # One run per scope: the new one can start only once the old one has stopped.
            reason = f"{why}; stop run {previous.run_id} first, start on a later apply"
            return _action(
                ActionKind.STOP,
                spec,
                reason,
                stop=_stop_order(previous, StopReason.REPLACE),
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

    def _stop(self, spec: DesiredRun, record: RunRecord, why: StopReason, reason: str) -> Action:
        if record.status is RunStatus.STOPPING:
            return _action(ActionKind.IN_PROGRESS, spec, f"run {record.run_id} is stopping")
        elif spec.prevent_stop:
            left = f"{reason}, but prevent_stop is set; run {record.run_id} left running"
            return _action(ActionKind.DRIFT, spec, left)
        else:
            return _action(ActionKind.STOP, spec, reason, stop=_stop_order(record, why))

    def _same_revision(self, spec: DesiredRun, record: RunRecord) -> Action:
        status = record.status
        if record.run_id is None:
            return self._unconfirmed(spec, record)
        elif spec.state is DesiredState.STOPPED:
            if status.is_active:
                return self._stop(spec, record, StopReason.SPEC, "state: stopped")
            else:
                return _action(ActionKind.DONE, spec, f"run {record.run_id} is {status.value}")
        elif status.is_active:
            return self._active(spec, record)
        elif status is RunStatus.SUCCEEDED:
            if spec.state is DesiredState.RUNNING:
                reason = f"run {record.run_id} ended (state: running)"
                return self._start(spec, attempt=record.attempt + 1, failures=0, reason=reason)
            else:
                return _action(ActionKind.DONE, spec, f"run {record.run_id} succeeded")
        elif status is RunStatus.FAILED or record.stop_reason is StopReason.TIMEOUT:
            return self._failed(spec, record)
        elif spec.schedule is not None:  # a stopped occurrence is over; the next one comes
            return _action(ActionKind.DONE, spec, f"run {record.run_id} was stopped")
        elif record.stop_reason in (StopReason.SPEC, StopReason.PRUNE):
            reason = f"run {record.run_id} was stopped; spec asks for a run again"
            return self._start(
                spec, attempt=record.attempt + 1, failures=record.failures, reason=reason
            )
        elif record.stop_reason is StopReason.WINDOW:
            return _action(
                ActionKind.DONE, spec, f"run {record.run_id} stopped when the window closed"
            )
        else:
            return _action(
                ActionKind.DRIFT,
                spec,
                f"run {record.run_id} was stopped outside reconciler; bump rerun to start again",
            )

    def _unconfirmed(self, spec: DesiredRun, record: RunRecord) -> Action:
        """An intent with no confirmed start, and no run found that is surely ours."""
        claimed = record.claimed_at
        if claimed is not None and self.now - claimed < CLAIM_LEASE:
            until = (claimed + CLAIM_LEASE).isoformat(timespec="seconds")
            reason = f"claimed by another applier at {claimed.isoformat(timespec='seconds')}; "
            return _action(ActionKind.WAIT, spec, reason + f"its start is awaited until {until}")
            return
        if record.prior_runs is not None:
            found = self.facts.new_runs(record)
            if len(found) > 1:
                ids = ", ".join(sorted(r.run_id for r in found))
                return _action(
                    ActionKind.DRIFT,
                    spec,
                    f"an interrupted start left {len(found)} new runs on {record.scope} "
                    f"({ids}) and runs there cannot carry our key: not guessing which is ours",
                )
                return
        reason = "earlier start not confirmed; no run found that is ours"
        return self._start(spec, attempt=record.attempt, failures=record.failures, reason=reason)

    def _active(self, spec: DesiredRun, record: RunRecord) -> Action:
        began = record.started_at
        overdue = (self.now - began).total_seconds() if began else 0.0
        window = spec.window
        if spec.timeout is not None and began and overdue >= spec.timeout:
            reason = f"timeout: active for more than {spec.timeout}s"
            return self._stop(spec, record, StopReason.TIMEOUT, reason)
        elif spec.state is DesiredState.RUNNING and window and self.now >= window.end:
            if spec.traits.schedules_window:  # the API ends it at the window's end itself
                return _action(ActionKind.IN_PROGRESS, spec, f"run {record.run_id} is ending")
            else:
                return self._stop(spec, record, StopReason.WINDOW, "window closed")
        else:
            reason = f"run {record.run_id} is {record.status.value}"
            return _action(ActionKind.IN_PROGRESS, spec, reason)

    def _failed(self, spec: DesiredRun, record: RunRecord) -> Action:
        failures = record.failures + 1
        what = "timed out" if record.stop_reason is StopReason.TIMEOUT else "failed"
        if failures <= spec.retry_limit:
            return self._start(
                spec,
                kind=ActionKind.RETRY,
                attempt=record.attempt + 1,
                failures=failures,
                reason=f"run {record.run_id} {what}; retry {failures} of {spec.retry_limit}",
            )
        else:
            then = (
                "the next occurrence starts as usual"
                if spec.schedule
                else "bump rerun to try again"
            )
            return _action(
                ActionKind.FAILED,
                spec,
                f"run {record.run_id} {what}; retries exhausted ({failures - 1} of "
                f"{spec.retry_limit}); {then}",
            )


def _find_by_key(
    spec: DesiredRun, by_key: Mapping[tuple[str, str], list[tuple[int, ObservedRun]]]
) -> RunRecord | None:
    found = by_key.get((spec.instance, spec.key))
    if not found:
        return None
    attempt, run = max(found, key=lambda pair: pair[0])
    return with_observation(new_record(spec, attempt=attempt, failures=0), run)


def _action(kind: ActionKind, spec: DesiredRun, reason: str, **fields: Any) -> Action:
    return Action(kind=kind, name=spec.name, instance=spec.instance, reason=reason, **fields)


def _stop_order(record: RunRecord, reason: StopReason) -> StopOrder:
    assert record.run_id is not None  # only an active run is stopped
    return StopOrder(run_id=record.run_id, reason=reason)


def _is_active(record: RunRecord) -> bool:
    return record.run_id is not None and record.status.is_active


def _record_action(kind: ActionKind, record: RunRecord, reason: str, **fields: Any) -> Action:
    return Action(kind=kind, name=record.name, instance=record.instance, reason=reason, **fields)


def _plan_orphan(record: RunRecord, prune: bool) -> Action:
    def act(kind: ActionKind, reason: str, **fields: Any) -> Action:
        return _record_action(kind, record, reason, **fields)

    if not _is_active(record):
        return act(ActionKind.FORGET, "spec removed and its run has ended", run_id=record.run_id)
    if record.status is RunStatus.STOPPING:
        return act(ActionKind.IN_PROGRESS, f"spec removed; run {record.run_id} is stopping")
    if not prune:
        return act(
            ActionKind.ORPHAN, f"spec removed; run {record.run_id} still active (prune is off)"
        )
    if record.prevent_stop:
        return act(ActionKind.ORPHAN, f"spec removed; run {record.run_id} kept (prevent_stop)")
    return act(ActionKind.STOP, "spec removed (prune)", stop=_stop_order(record, StopReason.PRUNE))
