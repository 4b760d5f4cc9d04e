"""Observe: list the runs that can matter, per provider instance, concurrently.

One paginated listing per instance, bounded by the provider clock at the previous refresh
(minus a margin for skew), never a GET per spec. Runs not listed kept their recorded status.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from reconciler.errors import ReconcilerError
from reconciler.providers.base import Listing, Provider
from reconciler.spec.runs import ObservedRun
from reconciler.state.model import Lockfile

SINCE_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class Observation:
    runs: dict[str, list[ObservedRun]]
    server_time: dict[str, datetime | None]
    errors: dict[str, str]  # instances whose refresh failed, and why
    scopes: dict[str, list[str]] = field(default_factory=dict)  # listed, per instance listed
    # Per instance, when each scope listed one by one was (``Listing.listed_at``).
    listed_at: dict[str, dict[str, float]] = field(default_factory=dict)

    def scope_runs(self) -> dict[tuple[str, str], list[str]]:
        """The ids of each listed scope's runs (a scope listed empty too), by instance and
        scope."""
        listed: dict[tuple[str, str], list[str]] = {
            (instance, scope): [] for instance, names in self.scopes.items() for scope in names
        }
        for instance in self.scopes:
            for run in self.runs[instance]:
                if run.scope is not None and (instance, run.scope) in listed:
                    listed[(instance, run.scope)].append(run.run_id)
        return {place: sorted(ids) for place, ids in listed.items()}

    def scope_listed_at(self) -> dict[tuple[str, str], float]:
        """When each scope listed one by one was, by instance and scope."""
        return {
            (instance, scope): at
            for instance, times in self.listed_at.items()
            for scope, at in times.items()
        }

    def merged(self, later: Observation) -> Observation:
        """This refresh and a later one of other scopes or instances, as one. An instance
        either failed in counts as failed; its clock is the earlier reading, which bounds the
        next listing from where both began."""
        merged = Observation(
            runs={}, server_time={}, errors={**self.errors, **later.errors}, scopes={}
        )
        for part in (self, later):
            for name, runs in part.runs.items():
                if name in merged.errors:
                    continue
                known = {run.run_id for run in merged.runs.get(name, [])}
                merged.runs[name] = [
                    *merged.runs.get(name, []),
                    *(run for run in runs if run.run_id not in known),
                ]
                merged.scopes[name] = sorted({*merged.scopes.get(name, []), *part.scopes[name]})
                times = [t for t in (merged.server_time.get(name), part.server_time[name]) if t]
                merged.server_time[name] = min(times, default=None)
                listed = merged.listed_at.setdefault(name, {})
                for scope, at in part.listed_at.get(name, {}).items():
                    listed[scope] = min(at, listed.get(scope, at))  # the older, to be safe
        return merged


async def observe(
    providers: Mapping[str, Provider],
    lock: Lockfile,
    scopes: Mapping[str, Collection[str]],
) -> Observation:
    """``scopes``: per instance, the job definitions or pipelines that specs or records use."""

    async def one(instance: str, provider: Provider) -> Listing | ReconcilerError:
        state = lock.providers.get(instance)
        since = state.observed_at - SINCE_MARGIN if state and state.observed_at else None
        try:
            return await provider.list_runs(since=since, scopes=sorted(scopes.get(instance, ())))
        except ReconcilerError as exc:  # one provider down must not stop the others
            return exc

    names = list(providers)
    results = await asyncio.gather(*(one(name, providers[name]) for name in names))
    observation = Observation(runs={}, server_time={}, errors={})
    for name, result in zip(names, results, strict=True):
        if isinstance(result, ReconcilerError):
            observation.errors[name] = str(result)
        else:
            observation.runs[name] = result.runs
            observation.server_time[name] = result.server_time
            observation.scopes[name] = sorted(scopes.get(name, ()))
            observation.listed_at[name] = dict(result.listed_at)
    return observation
