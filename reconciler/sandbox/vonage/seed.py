"""The ``vonage`` section of the seed: accepted tokens or applications, jobs and their outcomes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reconciler.sandbox.common import SeedModel


class VonageJob(SeedModel):
    outcome: Literal["completed", "failed"] = "completed"


class VonageSeed(SeedModel):
    tokens: list[str] | None = Field(
        default=None,
        description="Accepted bearer JWTs. With neither tokens nor applications: any well-formed "
        "JWT.",
    )
    applications: dict[str, str] | None = Field(
        default=None,
        description="Application id -> its PEM public key: JWTs claiming that application_id "
        "are accepted when RS256-signed by its private key and not expired.",
    )
    jobs: dict[str, VonageJob] | None = Field(
        default=None, description="Known job ids and how their runs end; None: any job id."
    )
    rate_limit: int | None = Field(default=None, gt=0, description="Calls per token per hour.")

    def outcome(self, job_id: str) -> str:
        return (self.jobs or {}).get(job_id, VonageJob()).outcome
