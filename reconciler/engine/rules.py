"""What the planner's rule families share: how an action is made, and the planner's state
and hooks each family may use (``_Planner`` in ``engine.plan`` provides them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from reconciler.engine.actions import Action, ActionKind, StopOrder
from reconciler.engine.desired import DesiredRun
from reconciler.engine.facts import Facts
from reconciler.engine.schedules import Step
from reconciler.spec.runs import StopReason
from reconciler.state.model import RunRecord, ScheduleState


class Rules:
    """The planner's state, and the decisions one family of rules asks of another."""

    now: datetime
    facts: Facts
    records: dict[str, RunRecord]
    specs: dict[str, DesiredRun]  # every spec, by name: what others run after
    schedules: dict[str, ScheduleState]
    steps: dict[str, Step]  # every scheduled spec's step, taken before any spec is planned

    def plan_spec(self, spec: DesiredRun, why: str | None = None) -> Action:
        raise NotImplementedError

    def plan_after(self, spec: DesiredRun, why: str | None = None) -> Action:
        raise NotImplementedError

    def stop(self, spec: DesiredRun, record: RunRecord, why: StopReason, reason: str) -> Action:
        raise NotImplementedError

    def _start(
        self,
        spec: DesiredRun,
        *,
        attempt: int,
        failures: int,
        reason: str,
        kind: ActionKind = ActionKind.START,
    ) -> Action:
        raise NotImplementedError


def action(kind: ActionKind, spec: DesiredRun, reason: str, **fields: Any) -> Action:
    return Action(kind=kind, name=spec.name, instance=spec.instance, reason=reason, **fields)


def record_action(kind: ActionKind, record: RunRecord, reason: str, **fields: Any) -> Action:
    return Action(kind=kind, name=record.name, instance=record.instance, reason=reason, **fields)


def stop_order(record: RunRecord, reason: StopReason) -> StopOrder:
    assert record.run_id is not None  # only an active run is stopped
    return StopOrder(run_id=record.run_id, reason=reason)


def is_active(record: RunRecord) -> bool:
    return record.run_id is not None and record.status.is_active
