"""The ``job:`` block of a Vonage Proactive Connect JobRun spec."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from reconciler.spec.durations import PositiveDuration
from reconciler.spec.limits import API_ID_PATTERN


class VonageJob(BaseModel):
    """Run a Proactive Connect job (``POST /beta/jobs/runs``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_id: str = Field(pattern=API_ID_PATTERN, description="The Proactive Connect job to run.")
    name: str | None = Field(
        default=None,
        max_length=200,
        description="Run name shown in Vonage (default: the spec's name); "
        "reconciler appends ' [rk:<run key>]'.",
    )
    duration: PositiveDuration = Field(
        default=3600,
        description="How long the run handles responses when the spec has no window "
        "(endAt = startAt + duration; the spec's timeout, if shorter, wins).",
    )
