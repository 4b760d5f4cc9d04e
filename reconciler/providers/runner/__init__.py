"""CenturyLink Cloud Runner job executions: the ``runner`` provider type."""

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
from reconciler.providers.runner.job import RunnerJob, RunnerOptions
from reconciler.spec.models import ProviderInstance


def _create(context: ProviderContext) -> Provider:
    from reconciler.providers.runner.client import RunnerProvider  # loads httpx: only for calls

    return RunnerProvider(context)


def _scope(job: Mapping[str, Any]) -> str | None:
    return str(job["job_id"])


def _credential_urls(instance: ProviderInstance) -> dict[str, str]:
    # The API calls carry the bearer token; the login carries username and password.
    return {
        "base_url": instance.base_url,
        "options.auth_url": option_url(instance, RunnerOptions, "auth_url"),
    }


def _for_sandbox(instance: ProviderInstance, sandbox_url: str) -> ProviderInstance:
    base_url = sandbox_api(instance, sandbox_url)
    options = {**instance.options, "auth_url": base_url}
    return instance.model_copy(update={"base_url": base_url, "options": options})


PROVIDER = ProviderType(
    name="runner",
    job_model=RunnerJob,
    create=_create,
    credential_keys=("username", "password"),
    traits=RunTraits(keyed=False, lists_scopes_whole=True),
    options_model=RunnerOptions,
    scope=_scope,
    for_sandbox=_for_sandbox,
    requires_account=True,
    # docs/providers/runner.md: the Runner API and the CLC v2 login
    production_hosts=frozenset({"api.runner.ctl.io", "api.ctl.io"}),
    credential_urls=_credential_urls,
)
