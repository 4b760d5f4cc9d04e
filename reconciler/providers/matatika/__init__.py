"""Matatika ELT pipeline jobs: the ``matatika`` provider type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.providers.base import (
    Provider,
    ProviderContext,
    ProviderType,
    RunTraits,
    option_url,
    sandbox_api,
)
from reconciler.providers.matatika.job import MatatikaJob, MatatikaOptions
from reconciler.spec.models import ProviderInstance


def _create(context: ProviderContext) -> Provider:
    from reconciler.providers.matatika.client import MatatikaProvider  # loads httpx: only for calls

    return MatatikaProvider(context)


def _scope(job: Mapping[str, Any]) -> str | None:
    return str(job["pipeline_id"])


def _credential_urls(instance: ProviderInstance) -> dict[str, str]:
    # The API calls carry the token; the client-credentials grant carries id and secret.
    # (The grant's ``audience`` is a name inside the request, not a destination.)
    return {
        "base_url": instance.base_url,
        "options.auth_url": option_url(instance, MatatikaOptions, "auth_url"),
    }


def _for_sandbox(instance: ProviderInstance, sandbox_url: str) -> ProviderInstance:
    base_url = sandbox_api(instance, sandbox_url, "/api")
    options = {**instance.options, "auth_url": f"{base_url}/oauth/token"}
    return instance.model_copy(update={"base_url": base_url, "options": options})


PROVIDER = ProviderType(
    name="matatika",
    job_model=MatatikaJob,
    create=_create,
    credential_keys=("token",),
    credential_alternatives=(("client_id", "client_secret"),),
    traits=RunTraits(keyed=False, exclusive_scope=True, lists_scopes_whole=True),
    options_model=MatatikaOptions,
    scope=_scope,
    for_sandbox=_for_sandbox,
    # docs/providers/matatika.md: the API (current and older host) and the token endpoint
    production_hosts=frozenset(
        {"app.matatika.com", "catalog.matatika.com", "identity.matatika.com"}
    ),
    credential_urls=_credential_urls,
)
