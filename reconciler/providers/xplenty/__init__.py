"""Integrate.io (Xplenty) ETL jobs: the ``xplenty`` provider type."""

from __future__ import annotations

from reconciler.providers.base import Provider, ProviderContext, ProviderType
from reconciler.providers.xplenty.job import XplentyJob
from reconciler.spec.models import RateLimit

DEFAULT_RATE_LIMIT = RateLimit(calls=5000, per=3600)  # 5,000 credits per user per hour


def _create(context: ProviderContext) -> Provider:
    from reconciler.providers.xplenty.client import XplentyProvider  # loads httpx: only for calls

    return XplentyProvider(context, rate_limit_default=DEFAULT_RATE_LIMIT)


PROVIDER = ProviderType(
    name="xplenty",
    job_model=XplentyJob,
    create=_create,
    credential_keys=("api_key",),
    requires_account=True,
    production_hosts=frozenset({"api.xplenty.com"}),  # docs/providers/xplenty.md
)
