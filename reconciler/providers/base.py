"""What every provider adapter offers, and the normalized run data they return."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import httpx
from pydantic import BaseModel

from reconciler.spec.models import ProviderInstance, RateLimit
from reconciler.spec.runs import ObservedRun, RunStatus

__all__ = ["ObservedRun", "RunStatus"]


@dataclass(frozen=True)
class Listing:
    runs: list[ObservedRun]
    server_time: datetime | None  # the provider's clock, to bound the next listing


@dataclass(frozen=True)
class StartRequest:
    name: str
    run_key: str
    job: Mapping[str, Any]


class Provider(Protocol):
    """One configured provider instance. All calls are counted in ``calls``."""

    instance: str

    @property
    def calls(self) -> int: ...

    async def start(self, request: StartRequest) -> ObservedRun: ...

    async def list_runs(self, *, since: datetime | None) -> Listing: ...

    async def get_run(self, run_id: str) -> ObservedRun: ...

    async def stop_run(self, run_id: str) -> ObservedRun: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class ProviderContext:
    """Everything an adapter needs; nothing is read from the environment by adapters."""

    instance: str
    config: ProviderInstance
    credentials: Mapping[str, str] = field(repr=False)
    transport: httpx.AsyncBaseTransport | None = None


@dataclass(frozen=True)
class ProviderType:
    """A registry entry, published through the ``reconciler.providers`` entry-point group."""

    name: str
    job_model: type[BaseModel]
    default_rate_limit: RateLimit | None
    create: Callable[[ProviderContext], Provider]
    credential_keys: tuple[str, ...] = ()
