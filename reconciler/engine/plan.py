"""Planning: a pure function of (desired runs, lockfile, observed runs, now) -> Plan.

No files, HTTP, clock or environment here: every input is an argument, so ``plan`` is a
trustworthy dry run and every rule is table-tested (tests/engine/test_plan.py).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from reconciler.engine.desired import DesiredRun, window_open
from reconciler.engine.records import new_record, with_observation
from reconciler.spec.models import ConcurrencyPolicy, DesiredState
from reconciler.spec.runs import ObservedRun, RunStatus, StopReason
from reconciler.state.lockfile import Lockfile, RunRecord, parse_run_key


class ActionKind(enum.StrEnum):
    START = "start"
    STOP = "stop"
    REPLACE = "replace"  # stop the previous revision's run, then start
    RETRY = "retry"  # start again after a failure
    ADOPT = "adopt"  # record a run found by its key; no API call
    FORGET = "forget"  # drop a record whose spec and run are both gone
    WAIT = "wait"  # nothing now: window not open, or blocked by an active run
    IN_PROGRESS = "in-progress"
    DONE = "done"
    FAILED = "failed"  # retries exhausted
    ORPHAN = "orphan"  # spec removed, run active, prune off (or prevent_stop)
    DRIFT = "drift"  # changed outside reconciler

    @property
    def is_change(self) -> bool:
        return self in CHANGES

    @property
    def calls_api(self) -> bool:
        return self in (ActionKind.START, ActionKind.STOP, ActionKind.REPLACE, ActionKind.RETRY)


CHANGES = frozenset(
    {
        ActionKind.START,
        ActionKind.STOP,
        ActionKind.REPLACE,
        ActionKind.RETRY,
        ActionKind.ADOPT,
        ActionKind.FORGET,
    }
)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldChange(_Frozen):
    path: str
    old: Any = None
    new: Any = None


class Action(_Frozen):
    kind: ActionKind
    name: str
    instance: str
    reason: str
    run_id: str | None = None  # the run to stop, or the run adopted
    attempt: int | None = None  # the attempt to start
    failures: int = 0  # carried into the new record
    stop_reason: StopReason | None = None
    desired: DesiredRun | None = None  # what to start
    changes: tuple[FieldChange, ...] = ()


class Plan(_Frozen):
    """Immutable output of planning; ``apply`` consumes it, and ``plan -o`` saves it."""

    model_config = ConfigDict(
        title="Plan", json_schema_extra={"$id": "https://reconciler.dev/schemas/plan.v1.json"}
    )

    format_version: Literal[1] = 1
    created_at: datetime
    lineage: str
    serial: int
    specs_digest: str
    prune: bool
    targets: tuple[str, ...] = ()
    records: dict[str, RunRecord]  # the state after refresh and adoption, before actions
    actions: tuple[Action, ...]
    observed_at: dict[str, datetime | None]  # provider clocks at refresh
    refresh_calls: dict[str, int]  # API calls the refresh made, per instance

    @property
    def changes(self) -> list[Action]:
        return [a for a in self.actions if a.kind.is_change]


@dataclass(frozen=True)
class Planned:
    records: dict[str, RunRecord]
    actions: list[Action]


def plan_actions(
    desired: Sequence[DesiredRun],
    lock: Lockfile,
    observed: Mapping[str, Sequence[ObservedRun]],
    *,
    now: datetime,
    prune: bool,
) -> Planned:
    """Decide, for every spec and every recorded run, what should happen now."""
    by_id, by_key = _index(observed)
    records = {name: _refresh(r, by_id, by_key) for name, r in lock.runs.items()}
    actions: list[Action] = []
    wanted = {d.name for d in desired}
    for spec in desired:
        record = records.get(spec.name)
        if record is None or record.key != spec.key:
            adopted = _find_by_key(spec, by_key)
            if adopted is not None:
                records[spec.name] = adopted
                actions.append(
                    _action(
                        ActionKind.ADOPT,
                        spec,
                        "found at the provider by its run key",
                        run_id=adopted.run_id,
                    )
                )
                continue
        actions.extend(_plan_spec(spec, record, now))
    for name in sorted(set(records) - wanted):
        actions.append(_plan_orphan(records[name], prune))
    return Planned(records=records, actions=actions)


def _index(
    observed: Mapping[str, Sequence[ObservedRun]],
) -> tuple[
    dict[tuple[str, str], ObservedRun], dict[tuple[str, str], list[tuple[int, ObservedRun]]]
]:
    by_id: dict[tuple[str, str], ObservedRun] = {}
    by_key: dict[tuple[str, str], list[tuple[int, ObservedRun]]] = {}
    for instance, runs in observed.items():
        for run in runs:
            by_id[(instance, run.run_id)] = run
            parsed = parse_run_key(run.run_key) if run.run_key else None
            if parsed:
                by_key.setdefault((instance, parsed[0]), []).append((parsed[1], run))
    return by_id, by_key


def _refresh(
    record: RunRecord,
    by_id: Mapping[tuple[str, str], ObservedRun],
    by_key: Mapping[tuple[str, str], list[tuple[int, ObservedRun]]],
) -> RunRecord:
    """The record with what the provider reports now; unlisted runs keep their recorded status."""
    if record.run_id is not None:
        run = by_id.get((record.instance, record.run_id))
        return with_observation(record, run) if run else record
    # A start whose answer was never recorded: the run, if it exists, carries our key.
    for attempt, run in by_key.get((record.instance, record.key), []):
        if attempt == record.attempt:
            return with_observation(record, run)
    return record


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


def _plan_spec(spec: DesiredRun, record: RunRecord | None, now: datetime) -> Iterator[Action]:
    if record is None:
        yield from _start(spec, now, attempt=1, failures=0, reason="new spec")
    elif record.key != spec.key:
        yield from _plan_new_revision(spec, record, now)
    else:
        yield from _plan_same_revision(spec, record, now)


def _start(
    spec: DesiredRun,
    now: datetime,
    *,
    attempt: int,
    failures: int,
    reason: str,
    kind: ActionKind = ActionKind.START,
    changes: tuple[FieldChange, ...] = (),
    stop_run: str | None = None,
) -> Iterator[Action]:
    if spec.state is DesiredState.STOPPED:
        yield _action(ActionKind.DONE, spec, "no run active (state: stopped)")
    elif spec.window and now < spec.window.start:
        yield _action(ActionKind.WAIT, spec, f"window opens at {spec.window.start.isoformat()}")
    elif spec.window and now >= spec.window.end:
        yield _action(ActionKind.DONE, spec, f"window closed at {spec.window.end.isoformat()}")
    else:
        yield _action(
            kind,
            spec,
            reason,
            attempt=attempt,
            failures=failures,
            desired=spec,
            changes=changes,
            run_id=stop_run,
            stop_reason=StopReason.REPLACE if stop_run else None,
        )


def _is_active(record: RunRecord) -> bool:
    return record.run_id is not None and record.status.is_active


def _plan_new_revision(spec: DesiredRun, previous: RunRecord, now: datetime) -> Iterator[Action]:
    changes = diff_record(previous, spec)
    if not _is_active(previous):
        yield from _start(spec, now, attempt=1, failures=0, reason="spec changed", changes=changes)
        return
    if spec.state is DesiredState.STOPPED:
        yield from _stop(spec, previous, StopReason.SPEC, "state: stopped")
    elif spec.concurrency is ConcurrencyPolicy.ALLOW:
        yield from _start(
            spec,
            now,
            attempt=1,
            failures=0,
            changes=changes,
            reason=f"spec changed; run {previous.run_id} keeps running (concurrency: allow)",
        )
    elif spec.concurrency is ConcurrencyPolicy.FORBID or spec.prevent_stop:
        why = "prevent_stop" if spec.prevent_stop else "concurrency: forbid"
        yield _action(
            ActionKind.WAIT,
            spec,
            f"spec changed; waiting for run {previous.run_id} to end ({why})",
            changes=changes,
        )
    else:
        yield from _start(
            spec,
            now,
            attempt=1,
            failures=0,
            kind=ActionKind.REPLACE,
            changes=changes,
            stop_run=previous.run_id,
            reason=f"spec changed; stop run {previous.run_id}, then start",
        )


def _stop(spec: DesiredRun, record: RunRecord, why: StopReason, reason: str) -> Iterator[Action]:
    if record.status is RunStatus.STOPPING:
        yield _action(ActionKind.IN_PROGRESS, spec, f"run {record.run_id} is stopping")
    elif spec.prevent_stop:
        yield _action(
            ActionKind.DRIFT,
            spec,
            f"{reason}, but prevent_stop is set; run {record.run_id} left running",
        )
    else:
        yield _action(ActionKind.STOP, spec, reason, run_id=record.run_id, stop_reason=why)


def _plan_same_revision(spec: DesiredRun, record: RunRecord, now: datetime) -> Iterator[Action]:
    status = record.status
    if record.run_id is None:
        # An intent with no confirmed start and no run carrying its key: it never started.
        yield from _start(
            spec,
            now,
            attempt=record.attempt,
            failures=record.failures,
            reason="earlier start not confirmed; no run found with its key",
        )
    elif spec.state is DesiredState.STOPPED:
        if status.is_active:
            yield from _stop(spec, record, StopReason.SPEC, "state: stopped")
        else:
            yield _action(ActionKind.DONE, spec, f"run {record.run_id} is {status.value}")
    elif status.is_active:
        yield from _plan_active(spec, record, now)
    elif status is RunStatus.SUCCEEDED:
        if spec.state is DesiredState.RUNNING:
            yield from _start(
                spec,
                now,
                attempt=record.attempt + 1,
                failures=0,
                reason=f"run {record.run_id} ended (state: running)",
            )
        else:
            yield _action(ActionKind.DONE, spec, f"run {record.run_id} succeeded")
    elif status is RunStatus.FAILED or record.stop_reason is StopReason.TIMEOUT:
        yield from _plan_failed(spec, record, now)
    elif record.stop_reason in (StopReason.SPEC, StopReason.PRUNE):
        yield from _start(
            spec,
            now,
            attempt=record.attempt + 1,
            failures=record.failures,
            reason=f"run {record.run_id} was stopped; spec asks for a run again",
        )
    elif record.stop_reason is StopReason.WINDOW:
        yield _action(ActionKind.DONE, spec, f"run {record.run_id} stopped when the window closed")
    else:
        yield _action(
            ActionKind.DRIFT,
            spec,
            f"run {record.run_id} was stopped outside reconciler; bump rerun to start again",
        )


def _plan_active(spec: DesiredRun, record: RunRecord, now: datetime) -> Iterator[Action]:
    began = record.started_at
    if spec.timeout is not None and began and (now - began).total_seconds() >= spec.timeout:
        yield from _stop(
            spec, record, StopReason.TIMEOUT, f"timeout: active for more than {spec.timeout}s"
        )
    elif (
        spec.state is DesiredState.RUNNING
        and spec.window
        and not window_open(spec.window, now)
        and now >= spec.window.end
    ):
        yield from _stop(spec, record, StopReason.WINDOW, "window closed")
    else:
        yield _action(ActionKind.IN_PROGRESS, spec, f"run {record.run_id} is {record.status.value}")


def _plan_failed(spec: DesiredRun, record: RunRecord, now: datetime) -> Iterator[Action]:
    failures = record.failures + 1
    what = "timed out" if record.stop_reason is StopReason.TIMEOUT else "failed"
    if failures <= spec.retry_limit:
        yield from _start(
            spec,
            now,
            kind=ActionKind.RETRY,
            attempt=record.attempt + 1,
            failures=failures,
            reason=f"run {record.run_id} {what}; retry {failures} of {spec.retry_limit}",
        )
    else:
        yield _action(
            ActionKind.FAILED,
            spec,
            f"run {record.run_id} {what}; retries exhausted ({failures - 1} of "
            f"{spec.retry_limit}); bump rerun to try again",
        )


def _plan_orphan(record: RunRecord, prune: bool) -> Action:
    def act(kind: ActionKind, reason: str, **fields: Any) -> Action:
        return Action(
            kind=kind, name=record.name, instance=record.instance, reason=reason, **fields
        )

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
    return act(
        ActionKind.STOP, "spec removed (prune)", run_id=record.run_id, stop_reason=StopReason.PRUNE
    )


def diff_record(record: RunRecord, spec: DesiredRun) -> tuple[FieldChange, ...]:
    """The fields of ``spec`` that differ from what started the recorded run."""
    old = {
        "instance": record.instance,
        "job": record.job,
        "rerun": record.rerun,
        "window": record.window.model_dump(mode="json") if record.window else None,
    }
    new = {
        "instance": spec.instance,
        "job": spec.job,
        "rerun": spec.rerun,
        "window": spec.window.model_dump(mode="json") if spec.window else None,
    }
    return tuple(_diff(old, new, ""))


def _diff(old: Any, new: Any, path: str) -> Iterator[FieldChange]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            child = f"{path}.{key}" if path else str(key)
            yield from _diff(old.get(key), new.get(key), child)
    elif old != new:
        yield FieldChange(path=path, old=old, new=new)
