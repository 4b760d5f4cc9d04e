"""Rules for a spec that runs after others (``after``): it waits until every spec it names
has a successful run of its current revision, then its run follows theirs by key."""

from __future__ import annotations

from datetime import datetime

from reconciler.engine.actions import Action, ActionKind
from reconciler.engine.desired import DesiredRun
from reconciler.engine.rules import Rules, action, is_active
from reconciler.engine.schedules import local_time
from reconciler.spec.models import DesiredState
from reconciler.spec.runs import RunStatus, StopReason


class AfterRules(Rules):
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
            if record is not None and is_active(record):
                reason = f"run {record.run_id} is {record.status.value}; the next one is {reason}"
                return action(ActionKind.IN_PROGRESS, spec, reason)
            return action(ActionKind.BLOCKED if blocked else ActionKind.WAIT, spec, reason)
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
            missed = self._missed(name, spec.occurrence)
            if missed is not None:
                return "blocked", missed
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

    def _missed(self, name: str, occurrence: datetime | None) -> str | None:
        """Why scheduled spec ``name`` has no run of ``occurrence``, if it missed it."""
        this = self.steps.get(name)
        if occurrence is None or this is None:
            return None
        for entry in this.state.history:
            if entry.at == occurrence and entry.missed is not None:
                when = local_time(occurrence, this.state.timezone)
                return f"occurrence {when} missed: {entry.missed}"
        return None
