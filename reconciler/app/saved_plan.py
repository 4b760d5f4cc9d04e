"""Saved plans (``plan -o``): read, sealed, and checked before ``apply PLANFILE`` takes one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from reconciler import __version__
from reconciler.app.digests import lockfile_digest, specs_digest
from reconciler.engine.actions import Action, ActionKind, Plan
from reconciler.engine.desired import DesiredRun
from reconciler.engine.occurrences import next_occurrence
from reconciler.engine.records import new_record
from reconciler.engine.seal import seal_problem, sealed
from reconciler.errors import (
    InputError,
    Problem,
    StalePlanError,
    UsageError,
    display_path,
)
from reconciler.spec.models import Config
from reconciler.spec.runs import RunStatus
from reconciler.state.document import read_json_document
from reconciler.state.model import Lockfile, RunRecord, ScheduleState


def read_plan(path: Path) -> Plan:
    return read_json_document(path, Plan, display_path(path), version_field="format_version")


# The key that signs saved plans (HMAC-SHA256); with it set, apply takes only signed plans.
PLAN_KEY_VARIABLE = "RECONCILER_PLAN_KEY"


def plan_key(environ: Mapping[str, str]) -> bytes | None:
    """The plan signing key, if set. Set but empty is refused rather than read as unset: a CI
    secret that failed to resolve must not turn signature checks off."""
    value = environ.get(PLAN_KEY_VARIABLE)
    if value is None:
        return None
    if not value:
        raise UsageError(f"{PLAN_KEY_VARIABLE} is set but empty: set the signing key, or unset it")
    return value.encode()


def seal_plan(plan: Plan, environ: Mapping[str, str]) -> Plan:
    """The plan to save: with its digest, and signed when the environment holds the key."""
    return sealed(plan, plan_key(environ))


# A storage fault after actions loses nothing: the journal holds them until the lockfile does.


_OBSERVED_FIELDS = frozenset(
    {
        "run_id",
        "status",
        "api_status",
        "started_at",
        "ended_at",
        "failure",
        "prior_runs",
        "claimed_at",
    }
)


def _unfounded_action(
    action: Action, wanted: DesiredRun | None, records: Mapping[str, RunRecord], lock: Lockfile
) -> str | None:
    """Why ``action`` is not one the planner makes from these specs and records, if so."""
    if action.start is not None:
        at = action.start.desired.occurrence
        if wanted is not None and at is not None:
            wrong = _unfounded_occurrence(wanted, at, lock)
            if wrong is not None:
                return wrong
            wanted = wanted.for_occurrence(at)
        followed = action.start.desired.followed
        if wanted is not None and followed is not None:
            wrong = _unfounded_following(wanted, followed, records)
            if wrong is not None:
                return wrong
            wanted = wanted.following(followed)
        if wanted is None or action.start.desired != wanted:
            return "is not what the specs ask for"
        if action.instance != wanted.instance:
            return f"names instance {action.instance}, and its spec {wanted.instance}"
    if action.stop is not None:
        record = records.get(action.name)
        if record is None or record.run_id is None or record.run_id != action.stop.run_id:
            return f"names run {action.stop.run_id}, which is not the run recorded for it"
    if action.kind is ActionKind.STOP and action.instance != records[action.name].instance:
        return f"names instance {action.instance}, and its record another"
    return None


def _unfounded_following(
    wanted: DesiredRun, followed: Mapping[str, str], records: Mapping[str, RunRecord]
) -> str | None:
    """Why a start following the upstream runs ``followed`` cannot be: not the specs its spec
    runs after, or not their recorded successful runs."""
    if sorted(followed) != sorted(wanted.after):
        return "follows other specs than its spec runs after"
    for name, key in followed.items():
        record = records.get(name)
        if record is None or record.run_key != key or record.status is not RunStatus.SUCCEEDED:
            return f"follows a run of {name} that is not its recorded successful one"
    return None


def _unfounded_occurrence(wanted: DesiredRun, at: datetime, lock: Lockfile) -> str | None:
    """Why a start for the occurrence at ``at`` is not one the state can lead to: not a time
    of the spec's schedule, or one already dealt with (other than a retry of the recorded
    one's run)."""
    if wanted.schedule is None:
        return "is for an occurrence, and its spec has no schedule"
    if next_occurrence(wanted.schedule, at - timedelta(seconds=1)) != at:
        return f"is for {at.isoformat()}, which its schedule does not have"
    state = lock.schedules.get(wanted.name)
    record = lock.runs.get(wanted.name)
    if record is not None and record.occurrence == at:
        return None
    dealt = [state.since] if state is not None else []
    if record is not None and record.occurrence is not None:
        dealt.append(record.occurrence)
    if not dealt or at <= max(dealt):
        return f"is for {at.isoformat()}, an occurrence the state has dealt with"
    return None


@dataclass(frozen=True)
class SavedPlanCheck:
    """What a saved plan is checked against: the state, specs, config and environment now."""

    lock: Lockfile
    desired: Sequence[DesiredRun]
    config: Config
    environ: Mapping[str, str]

    def check(self, plan: Plan, display: str) -> None:
        """A saved plan applies only as it was made (its seal), to the state and specs it was
        made from, and only with actions those specs and that state lead to."""
        self._check_release(plan)
        untrusted = seal_problem(plan, plan_key(self.environ))
        if untrusted is None:
            self._check_fresh(plan)
            untrusted = self._unfounded(plan)
        if untrusted is not None:
            raise InputError([Problem(display, None, None, "", f"saved plan refused: {untrusted}")])

    def _check_release(self, plan: Plan) -> None:
        if plan.reconciler_version != __version__:
            raise StalePlanError(
                f"the saved plan was made by reconciler {plan.reconciler_version}, and this is "
                f"{__version__}: a plan applies only with the release that made it; "
                "run `reconciler plan` again"
            )

    def _check_fresh(self, plan: Plan) -> None:
        reasons = []
        if plan.lineage != self.lock.lineage or plan.serial != self.lock.serial:
            reasons.append(self._lockfile_change(plan))
        elif plan.lockfile_digest != lockfile_digest(self.lock):
            reasons.append("the lockfile was edited since the plan was made (same serial)")
        if plan.specs_digest != specs_digest(self.config, self.desired):
            reasons.append("reconciler.yaml or the specs changed since the plan was made")
        if reasons:
            raise StalePlanError(
                f"saved plan is stale: {'; '.join(reasons)}; run `reconciler plan` again"
            )

    def _unfounded(self, plan: Plan) -> str | None:
        """What in a (fresh, intact) plan its specs and lockfile cannot have led to, if any.

        Re-derived independently of the seal, so that even a plan re-sealed by someone without
        the key cannot start a job the specs do not ask for, stop a run the state does not
        hold, or rewrite the records. Not re-derived: what the refresh observed."""
        wanted = {d.name: d for d in self.desired}
        missing = sorted(self.lock.runs.keys() - plan.records.keys())
        if missing:
            return f"the lockfile's record of {missing[0]} is missing from it"
        for name, record in plan.records.items():
            if not self._founded_record(record, wanted.get(name)):
                return f"its record of {name} is neither the lockfile's nor its spec's"
        for action in plan.actions:
            wrong = _unfounded_action(action, wanted.get(action.name), plan.records, self.lock)
            if wrong is not None:
                return f"its {action.kind.value} of {action.name} {wrong}"
        for name, state in plan.schedules.items():
            wrong = self._unfounded_schedule(name, state, wanted.get(name), plan.created_at)
            if wrong is not None:
                return f"its schedule state of {name} {wrong}"
        return None

    def _unfounded_schedule(
        self, name: str, state: ScheduleState, wanted: DesiredRun | None, made: datetime
    ) -> str | None:
        """A schedule's state moves only forward, to no later than the plan was made: a
        forged one could neither replay occurrences dealt with nor skip ones to come."""
        recorded = self.lock.schedules.get(name)
        if wanted is None or wanted.schedule is None:
            return "is for a spec with no schedule" if recorded is None else None
        if state.since > made:
            return "deals with occurrences after the plan was made"
        if recorded is not None and state.since < recorded.since:
            return "goes back before what the lockfile records as dealt with"
        return None

    def _founded_record(self, record: RunRecord, wanted: DesiredRun | None) -> bool:
        """As the lockfile has it (refreshed), or a run adopted by its spec's key."""
        made = record.model_dump(exclude=set(_OBSERVED_FIELDS))
        recorded = self.lock.runs.get(record.name)
        if recorded is not None and made == recorded.model_dump(exclude=set(_OBSERVED_FIELDS)):
            return recorded.run_id is None or recorded.run_id == record.run_id
        if wanted is None or record.run_id is None:
            return False
        if record.occurrence is not None and wanted.schedule is not None:
            wanted = wanted.for_occurrence(record.occurrence)
        if record.followed is not None and wanted.after:
            wanted = wanted.following(record.followed)
        adopted = new_record(wanted, attempt=record.attempt, failures=0)
        return made == adopted.model_dump(exclude=set(_OBSERVED_FIELDS))

    def _lockfile_change(self, plan: Plan) -> str:
        if plan.lineage and plan.lineage != self.lock.lineage:
            return "the lockfile belongs to another lineage"
        before = f"serial {plan.serial}" if plan.lineage else "no lockfile"
        return (
            f"the lockfile changed since the plan was made ({before} -> serial {self.lock.serial})"
        )
