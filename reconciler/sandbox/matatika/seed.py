"""The ``matatika`` section of the seed: tokens or clients, pipelines, how jobs go, the era."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reconciler.sandbox.common import SeedModel
from reconciler.spec.durations import Duration


class MatatikaPipeline(SeedModel):
    id: str
    workspace: str
    name: str = "pipeline"
    timeout: int = Field(default=0, ge=0, description="Seconds; 0 means 300.")
    running: Duration | None = None
    outcome: Literal["COMPLETE", "ERROR"] | None = None


class MatatikaSeed(SeedModel):
    tokens: list[str] | None = Field(
        default=None, description="Accepted bearer tokens; None: any non-empty token."
    )
    clients: dict[str, str] | None = Field(
        default=None,
        description="Client id -> secret for the client-credentials grant; None: any pair. "
        "Tokens it issues are accepted beside `tokens`.",
    )
    pipelines: list[MatatikaPipeline] | None = Field(
        default=None, description="Pipelines; None: unknown pipeline ids are created on use."
    )
    status_set: Literal["current", "seed"] = Field(
        default="current",
        description="current: QUEUED/RUNNING/COMPLETE/ERROR/STOPPED and PUT .../stopped; "
        "seed (2021 docs): RUNNING/COMPLETE/ERROR/UNKNOWN, stop by DELETE only.",
    )
    queued: Duration = 1
    running: Duration = 30
    stopping: Duration = 1
    outcome: Literal["COMPLETE", "ERROR"] = "COMPLETE"
    rate_limit: int | None = Field(default=None, gt=0, description="Calls per token per hour.")

    @property
    def seed_era(self) -> bool:
        return self.status_set == "seed"
