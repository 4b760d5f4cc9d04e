"""The ``job:`` block of an Xplenty (Integrate.io) JobRun spec."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from reconciler.spec.limits import INT64_MAX, MAX_ITEMS, MAX_TEXT, VARIABLE_NAME_PATTERN

RUN_KEY_VARIABLE = "RECONCILER_RUN_KEY"

VariableName = Annotated[str, StringConstraints(pattern=VARIABLE_NAME_PATTERN)]
Expression = Annotated[str, StringConstraints(max_length=MAX_TEXT)]


class XplentyJob(BaseModel):
    """Run a package on a cluster (``POST /{account}/api/jobs``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster_id: int = Field(gt=0, le=INT64_MAX, description="The cluster to run on.")
    package_id: int = Field(
        gt=0, le=INT64_MAX, description="The package whose workflow the job performs."
    )
    variables: dict[VariableName, Expression] = Field(
        default_factory=dict,
        max_length=MAX_ITEMS,
        description="Package variables; values are Pig expressions, so quote literals: \"'x'\".",
    )
    dynamic_variables: dict[VariableName, Expression] = Field(
        default_factory=dict, max_length=MAX_ITEMS
    )

    @field_validator("variables")
    @classmethod
    def _reserved(cls, value: dict[str, str]) -> dict[str, str]:
        if RUN_KEY_VARIABLE in value:
            raise ValueError(f"{RUN_KEY_VARIABLE} is reserved for reconciler's run key")
        return value
