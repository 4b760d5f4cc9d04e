"""The observed runs, indexed the ways the planner's rules look them up."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reconciler.engine.records import unclaimed_new_runs
from reconciler.spec.runs import ObservedRun
from reconciler.state.model import Lockfile, RunRecord, parse_run_key

Place = tuple[str, str | None]  # (instance, scope)


@dataclass
class Facts:
    by_id: dict[tuple[str, str], ObservedRun]
    by_key: dict[tuple[str, str], list[tuple[int, ObservedRun]]]
    by_scope: dict[Place, list[ObservedRun]]
    claimed: dict[tuple[str, str], str]  # (instance, run id) -> the spec name recording it

    @classmethod
    def index(cls, observed: Mapping[str, Sequence[ObservedRun]], lock: Lockfile) -> Facts:
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
