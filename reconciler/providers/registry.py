"""Provider types, discovered through the ``reconciler.providers`` entry-point group."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from reconciler.errors import ReconcilerError
from reconciler.providers.base import ProviderType

ENTRY_POINT_GROUP = "reconciler.providers"


@cache
def provider_types() -> dict[str, ProviderType]:
    found: dict[str, ProviderType] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        provider = entry.load()
        if not isinstance(provider, ProviderType):
            raise ReconcilerError(f"entry point {entry.value} is not a ProviderType")
        found[provider.name] = provider
    return found
