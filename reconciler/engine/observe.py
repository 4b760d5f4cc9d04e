"""Observe: list the runs that can matter, per provider instance, concurrently.

One paginated listing per instance, bounded by the provider clock at the previous refresh
(minus a margin for skew), never a GET per spec. Runs not listed kept their recorded status.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from reconciler.providers.base import Provider
from reconciler.spec.runs import ObservedRun
from reconciler.state.lockfile import Lockfile

SINCE_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class Observation:
    runs: dict[str, list[ObservedRun]]
    server_time: dict[str, datetime | None]


async def observe(
    providers: Mapping[str, Provider],
    lock: Lockfile,
    scopes: Mapping[str, Collection[str]],
) -> Observation:
    """``scopes``: per instance, the job definitions or pipelines that specs or records use."""

    async def one(
        instance: str, provider: Provider
    ) -> tuple[str, list[ObservedRun], datetime | None]:
        state = lock.providers.get(instance)
        since = state.observed_at - SINCE_MARGIN if state and state.observed_at else None
        listing = await provider.list_runs(since=since, scopes=sorted(scopes.get(instance, ())))
        return instance, listing.runs, listing.server_time

    results = await asyncio.gather(*(one(i, p) for i, p in providers.items()))
    return Observation(
        runs={instance: runs for instance, runs, _ in results},
        server_time={instance: time for instance, _, time in results},
    )
