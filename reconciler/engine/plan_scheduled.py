"""Rules for a scheduled spec: missed occurrences reported, the one due planned, and
between occurrences the latest run left to finish."""

from __future__ import annotations

from datetime import datetime

from reconciler.engine.actions import Action, ActionKind, ScheduleNote
from reconciler.engine.desired import DesiredRun
from reconciler.engine.rules import Rules, action, is_active
from reconciler.engine.schedules import local_time, schedule_of
from reconciler.spec.models import DesiredState
from reconciler.spec.runs import StopReason
from reconciler.state.model import RunRecord


class ScheduledRules(Rules):
    def plan_scheduled(self, spec: DesiredRun) -> list[Action]:
        """A missed action for the occurrences missed, if any, then the decision for the
        occurrence due now, or for the latest occurrence's run (its step, taken with every
        other schedule's before any spec was planned)."""
        schedule = schedule_of(spec)
        record = self.records.get(spec.name)
        this = self.steps[spec.name]
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
            actions.append(action(ActionKind.MISSED, spec, reason, schedule=missed))
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
            return action(ActionKind.WAIT, spec, waiting)
        of = (
            f"of occurrence {local_time(record.occurrence, schedule)}"
            if record.occurrence
            else "started before the spec had a schedule"
        )
        if is_active(record) and spec.state is DesiredState.STOPPED:
            return self.stop(spec, record, StopReason.SPEC, "state: stopped")
        if is_active(record):
            reason = f"run {record.run_id} {of} is {record.status.value}; {waiting}"
            return action(ActionKind.IN_PROGRESS, spec, reason)
        if record.run_id is None:
            return action(ActionKind.DONE, spec, f"start {of} not confirmed; {waiting}")
        return action(
            ActionKind.DONE, spec, f"run {record.run_id} {of} {record.status.value}; {waiting}"
        )
