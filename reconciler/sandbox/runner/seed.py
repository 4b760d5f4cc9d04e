"""The ``runner`` section of the seed: logins, job definitions, how executions go, the slots."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reconciler.sandbox.common import SeedModel, overlay
from reconciler.spec.durations import Duration


class RunnerUser(SeedModel):
    password: str
    account_alias: str


class RunnerJob(SeedModel):
    id: str
    account_alias: str
    description: str = ""
    execution_ttl: int = Field(
        default=180, gt=0, le=2**31 - 1, description="Minutes, then a graceful stop."
    )


class ExecutionProfile(SeedModel):
    initializing: Duration | None = None
    running: Duration | None = None
    outcome: Literal["SUCCESS", "FAILURE", "INIT_FAILURE"] | None = None


DEFAULT_EXECUTION = ExecutionProfile(initializing=2, running=30, outcome="SUCCESS")


class RunnerSeed(SeedModel):
    users: dict[str, RunnerUser] | None = Field(
        default=None, description="Control Portal logins; None: any user name and password."
    )
    jobs: list[RunnerJob] | None = Field(
        default=None, description="Job definitions; None: unknown job ids are created on start."
    )
    executions: ExecutionProfile = DEFAULT_EXECUTION
    job_executions: dict[str, ExecutionProfile] = Field(default_factory=dict)
    queued: Duration = Field(
        default=1, description="Seconds an execution stays PENDING even when a slot is free."
    )
    stopping: Duration = 2
    killing: Duration = 1
    max_concurrent: int = Field(default=4, gt=0, description="Active executions per account.")
    token_ttl: Duration = Field(default=14 * 86400, description="Bearer token lifetime.")
    rate_limit: int | None = Field(default=None, gt=0, description="Calls per token per hour.")

    def profile(self, job_id: str) -> ExecutionProfile:
        return overlay(DEFAULT_EXECUTION, self.executions, self.job_executions.get(job_id))
