"""The ``xplenty`` section of the seed: accounts and their keys, clusters and packages, how long
runs take and how they end.

Without ``accounts`` the emulator runs in *auto* mode: any account and any non-empty API key
are accepted, and clusters and packages are created when first referenced.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reconciler.sandbox.common import SeedModel, overlay
from reconciler.spec.durations import Duration


class Named(SeedModel):
    id: int = Field(gt=0, le=2**63 - 1)  # a 64-bit id, as the emulator's
    name: str


class XplentyAccount(SeedModel):
    api_keys: list[str] = Field(min_length=1)
    clusters: list[Named] = Field(default_factory=list)
    packages: list[Named] = Field(default_factory=list)


class RunProfile(SeedModel):
    """Phase durations and outcome of a run; unset fields fall back to ``default``."""

    idle: Duration | None = None
    pending: Duration | None = None
    running: Duration | None = None
    outcome: Literal["completed", "failed"] | None = None


DEFAULT_PROFILE = RunProfile(idle=1, pending=2, running=30, outcome="completed")


class XplentyRuns(SeedModel):
    default: RunProfile = DEFAULT_PROFILE
    packages: dict[int, RunProfile] = Field(default_factory=dict)


class StopProfile(SeedModel):
    pending_stoppage: Duration = 1
    stopping: Duration = 2


class XplentySeed(SeedModel):
    accounts: dict[str, XplentyAccount] | None = None  # None: auto mode
    runs: XplentyRuns = Field(default_factory=XplentyRuns)
    stop: StopProfile = Field(default_factory=StopProfile)
    rate_limit: int = Field(default=5000, gt=0, description="Calls per API key per hour.")
    strict_accept: bool = Field(
        default=False, description="Answer 404 when the versioned Accept header is missing."
    )

    def profile(self, package_id: int) -> RunProfile:
        """Built-in defaults, overlaid by the seed's ``default``, then by the package's own."""
        return overlay(DEFAULT_PROFILE, self.runs.default, self.runs.packages.get(package_id))
