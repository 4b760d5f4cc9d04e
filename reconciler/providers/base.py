"""What every provider adapter offers, and the normalized run data they return.

A provider type is published through the ``reconciler.providers`` entry-point group as a
``ProviderType``; the core never imports an adapter by name.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from reconciler.errors import ApiError
from reconciler.spec.models import ProviderInstance
from reconciler.spec.runs import ObservedRun, RunFailure, RunStatus, RunTraits

if TYPE_CHECKING:
    import httpx

    from reconciler.providers.http import Traffic

__all__ = ["ObservedRun", "RunFailure", "RunStatus", "RunTraits"]


@dataclass(frozen=True)
class Listing:
    runs: list[ObservedRun]
    server_time: datetime | None  # the provider's clock, to bound the next listing
    # Where scopes are listed one by one: when each one's listing was sent
    # (``time.monotonic()``), for how old its runs are as a start's snapshot.
    listed_at: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StartRequest:
    name: str
    run_key: str
    job: Mapping[str, Any]
    window_start: datetime | None = None
    window_end: datetime | None = None
    timeout: int | None = None  # seconds


@dataclass(frozen=True)
class StartCall:
    """The HTTP request that starts a run, built without I/O: apply builds every start's
    before its first action, so a value an adapter cannot send stops nothing halfway."""

    method: str
    path: str
    body: Mapping[str, Any] | None = field(default=None, repr=False)  # may hold a secret

    def check(self) -> None:
        """Raise what sending the body would: it is encoded as the HTTP client encodes it."""
        if self.body is not None:
            json.dumps(self.body, ensure_ascii=False, allow_nan=False).encode("utf-8")


@dataclass(frozen=True)
class LogLines:
    """A run's log lines after the first ``after`` asked for, and where the next read starts
    (``after`` of the next call, for ``logs --follow``)."""

    lines: tuple[str, ...]
    next: int


class Provider(Protocol):
    """One configured provider instance. All calls are counted in ``calls``."""

    instance: str

    @property
    def calls(self) -> int: ...

    def traffic(self) -> Traffic:
        """Calls, 429 answers and rate-limit tokens left, for metrics."""
        ...

    def start_call(self, request: StartRequest) -> StartCall:
        """The request ``start`` sends for ``request``; pure, may raise on a value."""
        ...

    async def start(self, request: StartRequest) -> ObservedRun: ...

    async def list_runs(self, *, since: datetime | None, scopes: Collection[str]) -> Listing:
        """Runs that can matter: those updated since ``since`` (all when None) in ``scopes``
        (the job definitions or pipelines the specs use; ignored by account-wide APIs)."""
        ...

    async def get_run(self, run_id: str) -> ObservedRun: ...

    async def stop_run(self, run_id: str, job: Mapping[str, Any]) -> ObservedRun:
        """Ask for a stop; returns the run as the API reports it (a finished run as it is)."""
        ...

    async def details(self, run_id: str) -> str | None:
        """A one-line account of the run for ``reconciler show`` (None: nothing to add)."""
        ...

    async def logs(self, run_id: str, after: int) -> LogLines | None:
        """The run's log lines after the first ``after``; None when the API has no logs."""
        ...

    async def aclose(self) -> None: ...


class SecretUnavailable(ValueError):
    """A job's secret reference that cannot or may not be read (names it, never a value)."""


def resolved_secret(context_secrets: Callable[[str], str] | None, reference: str) -> str:
    if context_secrets is None:
        raise SecretUnavailable(f"{reference}: no secrets can be read here")
    return context_secrets(reference)


@dataclass(frozen=True)
class ProviderContext:
    """Everything an adapter needs; nothing is read from the environment by adapters."""

    instance: str
    config: ProviderInstance
    credentials: Mapping[str, str] = field(repr=False)
    transport: httpx.AsyncBaseTransport | None = None
    options: BaseModel | None = None  # the instance's options, validated by options_model
    # A job's secret reference (env:/file:) -> its value, under the credentials' rules;
    # raises SecretUnavailable naming the reference and why, never a value.
    secrets: Callable[[str], str] | None = field(default=None, repr=False)


async def stop_unless_ended(
    request_stop: Callable[[], Awaitable[ObservedRun]],
    read_back: Callable[[], Awaitable[ObservedRun]],
    refused: type[ApiError],
) -> ObservedRun:
    """Ask for a stop; when the API refuses it because the run has already ended, return the
    run as it is (stopping a finished run is not an error for a reconciler)."""
    try:
        return await request_stop()
    except refused:
        run = await read_back()
        if run.status.is_terminal:
            return run
        raise


def no_scope(job: Mapping[str, Any]) -> str | None:
    return None


def base_url_only(instance: ProviderInstance) -> dict[str, str]:
    """The URLs of an instance that receive its credentials, by key path in its config."""
    return {"base_url": instance.base_url}


def option_url(instance: ProviderInstance, options: type[BaseModel], name: str) -> str:
    """An URL option as the adapter will use it: the instance's value or the model's default."""
    return str(instance.options.get(name, options.model_fields[name].default))


def sandbox_path(type_name: str) -> str:
    """Where the sandbox serves a provider type's emulator: the one definition of its URL
    layout, read by the emulators and by the adapters pointed at them."""
    return f"/{type_name}"


def sandbox_api(instance: ProviderInstance, sandbox_url: str, path: str = "") -> str:
    """The URL of ``path`` in the emulator of the instance's type."""
    return f"{sandbox_url}{sandbox_path(instance.type)}{path}"


def sandbox_base_url(instance: ProviderInstance, sandbox_url: str) -> ProviderInstance:
    return instance.model_copy(update={"base_url": sandbox_api(instance, sandbox_url)})


@dataclass(frozen=True)
class ProviderType:
    """A registry entry, published through the ``reconciler.providers`` entry-point group."""

    name: str
    job_model: type[BaseModel]
    create: Callable[[ProviderContext], Provider]
    credential_keys: tuple[str, ...] = ()
    # Other complete sets of credentials the type accepts instead of ``credential_keys``.
    credential_alternatives: tuple[tuple[str, ...], ...] = ()
    traits: RunTraits = field(default_factory=RunTraits)
    options_model: type[BaseModel] | None = None
    scope: Callable[[Mapping[str, Any]], str | None] = no_scope  # of a validated job
    for_sandbox: Callable[[ProviderInstance, str], ProviderInstance] = sandbox_base_url
    requires_account: bool = False  # the API's paths name an account (id or alias)
    # Hosts the provider documents; credentials go (over https) only there or to allowed hosts.
    production_hosts: frozenset[str] = frozenset()
    # Every URL that receives a credential, by key path ("base_url", "options.auth_url").
    credential_urls: Callable[[ProviderInstance], Mapping[str, str]] = base_url_only
