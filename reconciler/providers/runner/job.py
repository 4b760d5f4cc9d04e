"""The ``job:`` block of a CenturyLink Cloud Runner JobRun spec, and the instance options."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from reconciler.spec.limits import API_ID_PATTERN, MAX_DURATION, MAX_ITEMS
from reconciler.spec.models import SecretReference

SSH_KEY_DESCRIPTION = (
    "A reference (env:NAME or file:PATH, read as provider credentials are) to the SSH private "
    "key sent base64-encoded as sshPrivateKey; never the key itself. The run's revision "
    "follows the reference, not the key: rotating the key behind it starts nothing."
)


class RunnerHost(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=API_ID_PATTERN, description="Host name the play runs on.")
    ssh_private_key: SecretReference | None = Field(
        default=None, description=f"This host's key. {SSH_KEY_DESCRIPTION}"
    )


class RunnerJob(BaseModel):
    """Start an execution of an existing job definition (``POST /jobs/{alias}/{id}/start``).

    SSH private keys are secrets: a spec names them by reference only (``ssh_private_key``,
    for the request and per host); the value is read when the start is sent.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_id: str = Field(pattern=API_ID_PATTERN, description="The job definition to execute.")
    hosts: list[RunnerHost] = Field(
        default_factory=list, max_length=MAX_ITEMS, description="Empty: start with {}."
    )
    ssh_private_key: SecretReference | None = Field(
        default=None, description=f"The key for every listed host. {SSH_KEY_DESCRIPTION}"
    )
    stop_mode: Literal["stop", "kill"] = Field(
        default="stop", description="How reconciler stops an execution: graceful stop or kill."
    )
    expiry_duration: int = Field(
        default=0,
        ge=0,
        le=MAX_DURATION,
        description="Seconds the API waits before stopping (expiryDuration).",
    )


class RunnerOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    auth_url: str = Field(
        default="https://api.ctl.io",
        pattern=r"^https?://",
        description="Origin of the CLC v2 login (POST /v2/authentication/login).",
    )
