"""Version 1 of the user's file formats: ``JobRun`` specs and the ``Config`` in reconciler.yaml.

These models are pure: no I/O, no YAML, no HTTP. Unknown keys are errors everywhere.
The provider-specific ``job`` block is validated separately by the provider's own model.
"""

from __future__ import annotations

import enum
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from reconciler.spec.durations import PositiveDuration
from reconciler.spec.limits import API_ID_PATTERN, VARIABLE_NAME_PATTERN, VARIABLE_NAME_RULE
from reconciler.spec.schedule import Schedule

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
MAX_AFTER = 64
SECRET_REF_PATTERN = r"^(env:[A-Za-z_][A-Za-z0-9_]{0,127}|file:[^\x00-\x1f\x7f]{1,1024})$"
API_VERSION = "reconciler/v1"
TYPE_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
TYPE_RULE = "lowercase letters, digits, '_' and '-', starting with a letter, at most 63 characters"
MAX_URL = 2048
URL_EXAMPLE = "e.g. https://api.example.com"
MAX_REFERENCE_PATH = 1024


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class DesiredState(enum.StrEnum):
    COMPLETED = "completed"
    RUNNING = "running"
    STOPPED = "stopped"


class ConcurrencyPolicy(enum.StrEnum):
    REPLACE = "replace"
    FORBID = "forbid"
    ALLOW = "allow"


LabelKey = Annotated[str, Field(min_length=1, max_length=63)]
LabelValue = Annotated[str, Field(max_length=256)]


SpecName = Annotated[str, Field(pattern=NAME_PATTERN)]


class Metadata(StrictModel):
    name: str = Field(
        pattern=NAME_PATTERN,
        description="Unique in the repository: lowercase letters, digits and '-'.",
    )
    labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict, max_length=64, description="At most 64; keys up to 63 characters."
    )


class Retry(StrictModel):
    limit: int = Field(default=0, ge=0, le=100, description="Restarts of a failed run.")


class Window(StrictModel):
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _end_after_start(self) -> Window:
        if self.end <= self.start:
            raise ValueError("window end must be after its start")
        return self


class RunSpec(StrictModel):
    provider: str = Field(description="A provider instance declared in reconciler.yaml.")
    job: dict[str, Any] = Field(description="Provider-specific; validated by the provider.")
    state: DesiredState = DesiredState.COMPLETED
    concurrency: ConcurrencyPolicy | None = Field(
        default=None,
        description="When a new run is due while the previous one is active: replace it, "
        "forbid (wait; a scheduled occurrence not started in time is missed) or allow both. "
        "Default: replace; forbid for a scheduled spec.",
    )
    retry: Retry = Field(default_factory=Retry)
    timeout: PositiveDuration | None = None
    window: Window | None = None
    schedule: Schedule | None = Field(
        default=None, description="Start a run at each occurrence of a cron schedule."
    )
    rerun: int = Field(default=0, ge=0, le=1_000_000, description="Bump to ask for a fresh run.")
    prevent_stop: bool = False
    after: list[SpecName] = Field(
        default_factory=list,
        max_length=MAX_AFTER,
        description="Specs (on any provider) whose runs must have succeeded before a run of "
        "this spec starts; it runs again after each new successful run of theirs.",
    )

    @field_validator("after")
    @classmethod
    def _after_once(cls, names: list[str]) -> list[str]:
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"names {', '.join(twice)} more than once")
        return names

    @model_validator(mode="after")
    def _schedule_alone(self) -> RunSpec:
        if self.schedule is not None and self.state is DesiredState.RUNNING:
            raise ValueError(
                "a scheduled spec starts one run per occurrence: state: running does not "
                "apply (use completed, or suspend the schedule)"
            )
        if self.schedule is not None and self.window is not None:
            raise ValueError(
                "a scheduled spec has no window: each occurrence's run starts at its time"
            )
        return self

    @property
    def concurrency_policy(self) -> ConcurrencyPolicy:
        if self.concurrency is not None:
            return self.concurrency
        return ConcurrencyPolicy.FORBID if self.schedule else ConcurrencyPolicy.REPLACE


class JobRun(StrictModel):
    """A declared job run (``kind: JobRun``)."""

    model_config = ConfigDict(
        title="JobRun", json_schema_extra={"$id": "https://reconciler.dev/schemas/jobrun.v1.json"}
    )

    api_version: Literal["reconciler/v1"] = Field(alias="apiVersion")
    kind: Literal["JobRun"]
    metadata: Metadata
    spec: RunSpec


def _secret_reference(value: str) -> str:
    """The reference, or the rule it breaks in words; never echoing it: it may be the secret."""
    kind, colon, target = value.partition(":")
    if not colon or kind not in ("env", "file"):
        raise ValueError("literal secrets are not allowed; write env:NAME or file:PATH")
    if kind == "env" and not re.fullmatch(VARIABLE_NAME_PATTERN, target):
        raise ValueError(f"env: must be followed by a variable name: {VARIABLE_NAME_RULE}")
    if kind == "file" and not target:
        raise ValueError("file: must be followed by a path")
    if kind == "file" and len(target) > MAX_REFERENCE_PATH:
        raise ValueError(f"file: path longer than {MAX_REFERENCE_PATH} characters")
    if kind == "file" and any(ord(c) < 32 or ord(c) == 127 for c in target):
        raise ValueError("file: path contains a control character")
    return value


SecretReference = Annotated[
    str,
    AfterValidator(_secret_reference),
    Field(pattern=SECRET_REF_PATTERN, description="env:NAME or file:PATH"),
]


class RateLimit(StrictModel):
    calls: int = Field(gt=0, le=1_000_000)
    per: PositiveDuration = 3600


def _api_url(value: str) -> str:
    """An http(s) URL with a host and nothing a request line or a log would choke on."""
    if len(value) > MAX_URL:
        raise ValueError(f"longer than {MAX_URL} characters")
    if not value.isprintable() or any(c.isspace() for c in value):
        raise ValueError("a URL holds no spaces, line breaks or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (parsing the port is the check: 99999 or "x" raise)
    except ValueError:
        raise ValueError("not a valid URL (its host or port cannot be read)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http or https URL with a host, {URL_EXAMPLE}")
    if "@" in parts.netloc:
        # Never echo it: what precedes the '@' may be a password.
        raise ValueError("holds a user name or password; credentials go under credentials:")
    if parts.query or parts.fragment:
        raise ValueError(f"an API origin has no query or fragment, {URL_EXAMPLE}")
    return value


ApiUrl = Annotated[
    str,
    AfterValidator(_api_url),
    Field(pattern=r"^https?://", max_length=MAX_URL),
]


class ProviderInstance(StrictModel):
    type: str = Field(pattern=TYPE_PATTERN, description="Provider type, e.g. xplenty.")
    base_url: ApiUrl = Field(description="API origin, e.g. https://api.xplenty.com")
    account: str | None = Field(
        default=None,
        pattern=API_ID_PATTERN,
        description="Account id or alias, when the API has one.",
    )
    credentials: dict[str, SecretReference] = Field(
        default_factory=dict,
        description="Secret references only: env:NAME or file:PATH. Literal secrets are refused.",
    )
    concurrency: int = Field(default=4, ge=1, le=64, description="Parallel calls to this instance.")
    rate_limit: RateLimit | None = Field(default=None, description="Default: the provider's.")
    timeout: PositiveDuration = Field(
        default=30,
        description="How long one API call may take to connect, to send, and to answer. With "
        "the state in PostgreSQL, a call that acts is sent only while this and a tenth of the "
        "lease remain of it: the lease must be at least twice the longest timeout.",
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="Provider-specific settings, checked by the provider."
    )


InstanceName = Annotated[str, Field(pattern=NAME_PATTERN)]


class StateBackend(enum.StrEnum):
    FILE = "file"
    POSTGRES = "postgres"


class StateSettings(StrictModel):
    """Where the state lives: the lockfile beside the specs, or a PostgreSQL database."""

    backend: StateBackend = Field(
        default=StateBackend.FILE,
        description="file: the lockfile (`lockfile`), committed with the specs; postgres: "
        "tables in the database `dsn` names, for appliers on more than one machine.",
    )
    dsn: SecretReference | None = Field(
        default=None,
        description="For postgres: the connection string (it may hold a password), as a "
        "reference: env:NAME or file:PATH. Literal connection strings are refused.",
    )
    lease: PositiveDuration = Field(
        default=60,
        description="For postgres: how long an applier's lock lasts unless renewed (it is "
        "renewed every sixth of it). A holder paused longer loses it to the next applier, "
        "and its late writes are refused. At least twice every provider's timeout.",
    )

    @model_validator(mode="after")
    def _dsn_for_postgres(self) -> StateSettings:
        if self.backend is StateBackend.POSTGRES and self.dsn is None:
            raise ValueError(
                "backend: postgres needs dsn: env:NAME or file:PATH (the connection string is "
                "a credential)"
            )
        if self.backend is StateBackend.FILE and self.dsn is not None:
            raise ValueError("dsn is for backend: postgres; the file backend uses `lockfile`")
        return self


class Config(StrictModel):
    """The repository's ``reconciler.yaml`` (``kind: Config``)."""

    model_config = ConfigDict(
        title="Config", json_schema_extra={"$id": "https://reconciler.dev/schemas/config.v1.json"}
    )

    api_version: Literal["reconciler/v1"] = Field(alias="apiVersion")
    kind: Literal["Config"]
    providers: dict[InstanceName, ProviderInstance] = Field(default_factory=dict, max_length=256)
    specs: list[str] = Field(default_factory=lambda: ["specs"], min_length=1, max_length=256)
    lockfile: str = "reconciler.lock"
    state: StateSettings = Field(
        default_factory=StateSettings,
        description="Where the state lives; by default in `lockfile`.",
    )
    prune: bool = Field(default=False, description="Stop runs of removed specs.")
