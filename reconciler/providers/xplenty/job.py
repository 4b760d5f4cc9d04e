"""The ``job:`` block of an Xplenty (Integrate.io) JobRun spec."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

RUN_KEY_VARIABLE = "RECONCILER_RUN_KEY"


class XplentyJob(BaseModel):
    """Run a package on a cluster (``POST /{account}/api/jobs``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster_id: int = Field(gt=0, description="The cluster to run on.")
    package_id: int = Field(gt=0, description="The package whose workflow the job performs.")
    variables: dict[str, str] = Field(
        default_factory=dict,
        description="Package variables; values are Pig expressions, so quote literals: \"'x'\".",
    )
    dynamic_variables: dict[str, str] = Field(default_factory=dict)

    @field_validator("variables")
    @classmethod
    def _reserved(cls, value: dict[str, str]) -> dict[str, str]:
        if RUN_KEY_VARIABLE in value:
            raise ValueError(f"{RUN_KEY_VARIABLE} is reserved for reconciler's run key")
        return value
