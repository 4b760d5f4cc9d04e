"""Vonage Proactive Connect job runs: the ``vonage`` provider type."""

from __future__ import annotations

from reconciler.providers.base import (
    Provider,
    ProviderContext,
    ProviderType,
    RunTraits,
    sandbox_api,
)
from reconciler.providers.vonage.job import VonageJob
from reconciler.spec.models import ProviderInstance


def _create(context: ProviderContext) -> Provider:
    from reconciler.providers.vonage.client import VonageProvider  # loads httpx: only for calls

    return VonageProvider(context)


def _for_sandbox(instance: ProviderInstance, sandbox_url: str) -> ProviderInstance:
    return instance.model_copy(update={"base_url": sandbox_api(instance, sandbox_url, "/beta")})


PROVIDER = ProviderType(
    name="vonage",
    job_model=VonageJob,
    create=_create,
    credential_keys=("token",),
    credential_alternatives=(("application_id", "private_key"),),
    traits=RunTraits(keyed=True, schedules_window=True),
    for_sandbox=_for_sandbox,
    # docs/providers/vonage.md: the only public host of the runs API, and the GA API host
    production_hosts=frozenset({"api-eu.dev.v1.vonagenetworks.net", "api-eu.vonage.com"}),
)
