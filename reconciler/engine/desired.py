"""What the specs ask for, flattened into the planner's input."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict

from reconciler.engine.identity import following_key, occurrence_key, revision, spec_key
from reconciler.spec.bulk import BulkModel
from reconciler.spec.models import ConcurrencyPolicy, DesiredState, JobRun
from reconciler.spec.runs import RunTraits
from reconciler.spec.schedule import Schedule
from reconciler.state.model import Window


class DesiredRun(BulkModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    instance: str
    provider_type: str
    job: dict[str, Any]
    state: DesiredState
    concurrency: ConcurrencyPolicy
    retry_limit: int
    timeout: int | None
    window: Window | None
    rerun: int
    prevent_stop: bool
    revision: str
    key: str
    spec_file: str
    scope: str | None = None
    traits: RunTraits = RunTraits()
    schedule: Schedule | None = None
    occurrence: datetime | None = None  # set for the occurrence a scheduled spec plans now
    after: tuple[str, ...] = ()  # specs whose runs must succeed first
    followed: dict[str, str] | None = None  # set once they have: name -> their run's key

    def for_occurrence(self, at: datetime) -> DesiredRun:
        """This scheduled spec's run for the occurrence at ``at``: its own key."""
        key = occurrence_key(self.name, self.revision, at)
        return self.model_copy(update={"occurrence": at, "key": key})

    def following(self, followed: dict[str, str]) -> DesiredRun:
        """This spec's run after the upstream runs ``followed`` (name -> run key) succeeded:
        its own key, so each new upstream success is followed by one run."""
        return self.model_copy(
            update={"followed": followed, "key": following_key(self.key, followed)}
        )


def desired_run(
    run: JobRun,
    *,
    job: dict[str, Any],
    provider_type: str,
    file: str,
    scope: str | None = None,
    traits: RunTraits | None = None,
) -> DesiredRun:
    spec = run.spec
    window = Window(start=spec.window.start, end=spec.window.end) if spec.window else None
    digest = revision(
        instance=spec.provider,
        provider_type=provider_type,
        job=job,
        rerun=spec.rerun,
        window=window.model_dump(mode="json") if window else None,
    )
    return DesiredRun(
        name=run.metadata.name,
        instance=spec.provider,
        provider_type=provider_type,
        job=job,
        state=spec.state,
        concurrency=spec.concurrency_policy,
        retry_limit=spec.retry.limit,
        timeout=spec.timeout,
        window=window,
        rerun=spec.rerun,
        prevent_stop=spec.prevent_stop,
        revision=digest,
        key=spec_key(run.metadata.name, digest),
        spec_file=file,
        scope=scope,
        traits=traits or RunTraits(),
        schedule=spec.schedule,
        after=tuple(spec.after),
    )
