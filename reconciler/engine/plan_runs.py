"""Rules for a spec whose record holds a run of its current revision: unconfirmed, active,
ended well or badly, stopped."""

from __future__ import annotations

from datetime import timedelta

from reconciler.engine.actions import Action, ActionKind
from reconciler.engine.desired import DesiredRun
from reconciler.engine.rules import Rules, action
from reconciler.spec.models import DesiredState
from reconciler.spec.runs import RunStatus, StopReason
from reconciler.state.model import RunRecord

CLAIM_LEASE = timedelta(minutes=15)  # how long another applier's pushed claim is honoured


class RunRules(Rules):
    def same_revision(self, spec: DesiredRun, record: RunRecord) -> Action:
        status = record.status
        if record.run_id is None:
            return self._unconfirmed(spec, record)
        elif spec.state is DesiredState.STOPPED:
            if status.is_active:
                return self.stop(spec, record, StopReason.SPEC, "state: stopped")
            else:
                return action(ActionKind.DONE, spec, f"run {record.run_id} is {status.value}")
        elif status.is_active:
            return self._active(spec, record)
        elif status is RunStatus.SUCCEEDED:
            if spec.state is DesiredState.RUNNING:
                reason = f"run {record.run_id} ended (state: running)"
                return self._start(spec, attempt=record.attempt + 1, failures=0, reason=reason)
            else:
                return action(ActionKind.DONE, spec, f"run {record.run_id} succeeded")
        elif status is RunStatus.FAILED or record.stop_reason is StopReason.TIMEOUT:
            return self._failed(spec, record)
        elif spec.schedule is not None:  # a stopped occurrence is over; the next one comes
            return action(ActionKind.DONE, spec, f"run {record.run_id} was stopped")
        elif record.stop_reason in (StopReason.SPEC, StopReason.PRUNE):
            reason = f"run {record.run_id} was stopped; spec asks for a run again"
            return self._start(
                spec, attempt=record.attempt + 1, failures=record.failures, reason=reason
            )
        elif record.stop_reason is StopReason.WINDOW:
            return action(
                ActionKind.DONE, spec, f"run {record.run_id} stopped when the window closed"
            )
        else:
            return action(
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
            return action(ActionKind.WAIT, spec, reason + f"its start is awaited until {until}")
        if record.prior_runs is not None:
            found = self.facts.new_runs(record)
            if len(found) > 1:
                ids = ", ".join(sorted(r.run_id for r in found))
                return action(
                    ActionKind.DRIFT,
                    spec,
                    f"an interrupted start left {len(found)} new runs on {record.scope} "
                    f"({ids}) and runs there cannot carry our key: not guessing which is ours",
                )
        reason = "earlier start not confirmed; no run found that is ours"
        return self._start(spec, attempt=record.attempt, failures=record.failures, reason=reason)

    def _active(self, spec: DesiredRun, record: RunRecord) -> Action:
        began = record.started_at
        overdue = (self.now - began).total_seconds() if began else 0.0
        window = spec.window
        if spec.timeout is not None and began and overdue >= spec.timeout:
            reason = f"timeout: active for more than {spec.timeout}s"
            return self.stop(spec, record, StopReason.TIMEOUT, reason)
        elif spec.state is DesiredState.RUNNING and window and self.now >= window.end:
            if spec.traits.schedules_window:  # the API ends it at the window's end itself
                return action(ActionKind.IN_PROGRESS, spec, f"run {record.run_id} is ending")
            else:
                return self.stop(spec, record, StopReason.WINDOW, "window closed")
        else:
            reason = f"run {record.run_id} is {record.status.value}"
            return action(ActionKind.IN_PROGRESS, spec, reason)

    def _failed(self, spec: DesiredRun, record: RunRecord) -> Action:
        failures = record.failures + 1
        what = "timed out" if record.stop_reason is StopReason.TIMEOUT else "failed"
        if record.failure and record.stop_reason is not StopReason.TIMEOUT:
            what += f" ({record.failure})"  # the provider's account, kept by the record
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
            return action(
                ActionKind.FAILED,
                spec,
                f"run {record.run_id} {what}; retries exhausted ({failures - 1} of "
                f"{spec.retry_limit}); {then}",
            )
