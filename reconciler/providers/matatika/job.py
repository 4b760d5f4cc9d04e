"""The ``job:`` block of a Matatika JobRun spec, and the instance options."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from reconciler.spec.limits import API_ID_PATTERN


class MatatikaJob(BaseModel):
    """Run a pipeline (``POST /api/pipelines/{id}/jobs``); one job per pipeline at a time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pipeline_id: str = Field(pattern=API_ID_PATTERN, description="The pipeline to run.")


class MatatikaOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    workspace: str | None = Field(
        default=None,
        pattern=API_ID_PATTERN,
        description="Workspace id: observe all its jobs in one paged listing instead of one "
        "listing per pipeline.",
    )
    auth_url: str = Field(
        default="https://identity.matatika.com/oauth/token",
        description="Token endpoint of the client-credentials grant (with client_id and "
        "client_secret credentials).",
    )
    audience: str | None = Field(
        default=None, description="Audience of the client-credentials grant; default base_url."
    )
    api: Literal["current", "seed"] = Field(
        default="current",
        description="current: stop by PUT /jobs/{id}/stopped; seed (the 2021 API): start on "
        "/api/pipeline/{id}/jobs and stop by DELETE /jobs/{id}.",
    )
