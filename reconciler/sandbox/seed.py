"""The sandbox seed file: accounts, keys, clusters, packages, how long runs take, how they end.

Without a seed (or without ``accounts``), the sandbox runs in *auto* mode: any account and any
non-empty API key are accepted, and clusters and packages are created when first referenced,
so ``--sandbox`` works on any spec repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reconciler.errors import InputError, Problem
from reconciler.spec.durations import Duration


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=BaseModel)


def overlay(base: P, *layers: P | None) -> P:
    """``base`` with each layer's set fields laid over it, in order."""
    for layer in layers:
        if layer is not None:
            base = base.model_copy(update=layer.model_dump(exclude_none=True))
    return base


class Named(_Model):
    id: int = Field(gt=0, le=2**63 - 1)  # a 64-bit id, as the emulator's
    name: str


class XplentyAccount(_Model):
    api_keys: list[str] = Field(min_length=1)
    clusters: list[Named] = Field(default_factory=list)
    packages: list[Named] = Field(default_factory=list)


class RunProfile(_Model):
    """Phase durations and outcome of a run; unset fields fall back to ``default``."""

    idle: Duration | None = None
    pending: Duration | None = None
    running: Duration | None = None
    outcome: Literal["completed", "failed"] | None = None


DEFAULT_PROFILE = RunProfile(idle=1, pending=2, running=30, outcome="completed")


class XplentyRuns(_Model):
    default: RunProfile = DEFAULT_PROFILE
    packages: dict[int, RunProfile] = Field(default_factory=dict)


class StopProfile(_Model):
    pending_stoppage: Duration = 1
    stopping: Duration = 2


class XplentySeed(_Model):
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


class VonageJob(_Model):
    outcome: Literal["completed", "failed"] = "completed"


class VonageSeed(_Model):
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


class RunnerUser(_Model):
    password: str
    account_alias: str


class RunnerJob(_Model):
    id: str
    account_alias: str
    description: str = ""
    execution_ttl: int = Field(
        default=180, gt=0, le=2**31 - 1, description="Minutes, then a graceful stop."
    )


class ExecutionProfile(_Model):
    initializing: Duration | None = None
    running: Duration | None = None
    outcome: Literal["SUCCESS", "FAILURE", "INIT_FAILURE"] | None = None


DEFAULT_EXECUTION = ExecutionProfile(initializing=2, running=30, outcome="SUCCESS")


class RunnerSeed(_Model):
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


class MatatikaPipeline(_Model):
    id: str
    workspace: str
    name: str = "pipeline"
    timeout: int = Field(default=0, ge=0, description="Seconds; 0 means 300.")
    running: Duration | None = None
    outcome: Literal["COMPLETE", "ERROR"] | None = None


class MatatikaSeed(_Model):
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


class Faults(_Model):
    """Faults injected into one provider's API: shares are probabilities per request."""

    latency: float = Field(default=0.0, ge=0, description="Seconds added to every answer.")
    jitter: float = Field(default=0.0, ge=0, description="Up to this many seconds more, at random.")
    server_errors: float = Field(default=0.0, ge=0, le=1, description="Share answered 503.")
    rate_limited: float = Field(default=0.0, ge=0, le=1, description="Share answered 429.")
    retry_after: int = Field(default=1, ge=0, description="Retry-After of injected 429s, seconds.")
    drops: float = Field(
        default=0.0, ge=0, le=1, description="Share whose connection drops before the API acts."
    )
    drops_after: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Share the API acts on, then drops the connection: the client never "
        "sees the answer (the worst case for a start).",
    )
    slow_stop: float = Field(default=0.0, ge=0, description="Seconds added to stop requests.")


class Seed(_Model):
    faults: dict[Literal["xplenty", "runner", "vonage", "matatika"], Faults] = Field(
        default_factory=dict
    )
    xplenty: XplentySeed = Field(default_factory=XplentySeed)
    vonage: VonageSeed = Field(default_factory=VonageSeed)
    runner: RunnerSeed = Field(default_factory=RunnerSeed)
    matatika: MatatikaSeed = Field(default_factory=MatatikaSeed)


def load_seed(path: Path | None) -> Seed:
    if path is None:
        return Seed()
    from reconciler.source.yaml import parse_text, read_text

    display = str(path)
    text, problem = read_text(path, display)
    if problem or text is None:
        raise InputError([problem] if problem else [])
    docs, problems = parse_text(text, display)
    if problems:
        raise InputError(problems)
    try:
        return Seed.model_validate(docs[0].data if docs and docs[0].data else {})
    except ValidationError as exc:
        raise InputError(
            [
                Problem(display, None, None, ".".join(map(str, e["loc"])), e["msg"])
                for e in exc.errors(include_input=False, include_url=False)
            ]
        ) from None


EMULATED = ("xplenty", "runner", "vonage", "matatika")


def with_faults(seed: Seed, settings: tuple[str, ...]) -> Seed:
    """The seed with ``PROVIDER.KEY=VALUE`` fault settings added (``sandbox serve --fault``)."""
    faults: dict[str, dict[str, object]] = {
        name: f.model_dump(exclude_defaults=True) for name, f in seed.faults.items()
    }
    problems = []
    for setting in settings:
        target, _, value = setting.partition("=")
        provider, _, key = target.partition(".")
        if not (provider and key and value):
            problems.append(Problem("--fault", None, None, setting, "expected PROVIDER.KEY=VALUE"))
            continue
        if provider not in EMULATED:
            why = f"unknown provider; one of {', '.join(EMULATED)}"
            problems.append(Problem("--fault", None, None, setting, why))
            continue
        faults.setdefault(provider, {})[key] = value
    try:
        merged = Seed.model_validate({**seed.model_dump(), "faults": faults})
    except ValidationError as exc:
        problems += [
            Problem("--fault", None, None, ".".join(map(str, e["loc"][1:])), e["msg"])
            for e in exc.errors(include_input=False, include_url=False)
        ]
    if problems:
        raise InputError(problems)
    return merged
