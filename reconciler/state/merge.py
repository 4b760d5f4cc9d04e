"""A scoped write merged into the stored state: what an applier holding the leases of some
provider instances changed, laid over what others wrote meanwhile.

Pure (models only). The applier read ``base`` and wants ``mine``; ``current`` is what is
stored now, possibly with other appliers' writes since ``base``. Records and provider states of
the applier's instances are its own (no one else holds their leases), so they are taken from
``mine`` whatever ``current`` says; everything else is taken from ``current``, except
schedules, which are per spec: those the applier changed since ``base`` (appliers on disjoint
instances plan disjoint specs) are taken from ``mine``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TypeVar

from reconciler.state.model import Lockfile

T = TypeVar("T")


def merged(base: Lockfile, mine: Lockfile, current: Lockfile, scopes: Collection[str]) -> Lockfile:
    """``current`` with the applier's changes to its ``scopes`` (provider instances)."""
    ours = {
        name
        for lock in (base, mine, current)
        for name, record in lock.runs.items()
        if record.instance in scopes
    }
    runs = {n: r for n, r in current.runs.items() if n not in ours}
    runs |= {n: r for n, r in mine.runs.items() if n in ours}
    providers = {n: p for n, p in current.providers.items() if n not in scopes}
    providers |= {n: p for n, p in mine.providers.items() if n in scopes}
    return current.model_copy(
        update={
            "source": mine.source,
            "runs": dict(sorted(runs.items())),
            "providers": dict(sorted(providers.items())),
            "schedules": _changed(base.schedules, mine.schedules, current.schedules),
        }
    )


def _changed(
    base: Mapping[str, T], mine: Mapping[str, T], current: Mapping[str, T]
) -> dict[str, T]:
    """``current`` with what ``mine`` added, changed or removed since ``base``."""
    result = dict(current)
    for name in base.keys() | mine.keys():
        if base.get(name) == mine.get(name):
            continue
        if name in mine:
            result[name] = mine[name]
        else:
            result.pop(name, None)
    return dict(sorted(result.items()))
