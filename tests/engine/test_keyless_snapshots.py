"""A keyless start's snapshot (the runs of its scope before it, recorded in its intent) comes
from the plan's refresh when the apply follows it at once: one call per start, not a listing
and a start. Against the Runner and Matatika emulators over real HTTP, calls counted by the
adapter; the journal's intents carry the snapshot either way."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.engine.actions import Plan
from reconciler.engine.apply import SNAPSHOT_FRESH, RefreshedScopes, apply_plan
from reconciler.engine.desired import DesiredRun, desired_run
from reconciler.engine.plan import plan_actions
from reconciler.providers.base import StartRequest
from reconciler.sandbox.server import BackgroundSandbox
from reconciler.spec.models import JobRun
from reconciler.state.entries import IntentEntry
from reconciler.state.journal import Journal, read_entries
from reconciler.state.model import Lockfile
from tests.conftest import advance
from tests.plans import plan_of
from tests.providers.test_contract import HARNESSES, Harness, connected, provider_type

KEYLESS = [h for h in HARNESSES if not provider_type(h).traits.keyed]
keyless = pytest.mark.parametrize("harness", KEYLESS, ids=[h.type for h in KEYLESS])


def _desired(harness: Harness, name: str, job: dict[str, Any]) -> DesiredRun:
    kind = provider_type(harness)
    spec = JobRun.model_validate(
        {
            "apiVersion": "reconciler/v1",
            "kind": "JobRun",
            "metadata": {"name": name},
            "spec": {"provider": "contract", "job": job},
        }
    )
    return desired_run(
        spec,
        job=job,
        provider_type=kind.name,
        file=f"specs/{name}.yaml",
        scope=kind.scope(job),
        traits=kind.traits,
    )


def _plan(desired: list[DesiredRun], now: datetime) -> Plan:
    lock = Lockfile(lineage="l", serial=1)
    return plan_of(plan_actions(desired, lock, {}, now=now, prune=False), lock, now)


@keyless
def test_the_refresh_is_the_snapshot_of_the_first_start_in_each_scope(
    harness: Harness, sandbox: BackgroundSandbox, tmp_path: Path
) -> None:
    """Each harness's jobs: Matatika's in a pipeline each, Runner's all of one job, whose
    second and third starts list it again (each must see the runs started before it)."""
    jobs = [harness.job(i) for i in range(3)]
    desired = [_desired(harness, f"spec-{i}", job) for i, job in enumerate(jobs)]
    scopes = sorted({d.scope for d in desired if d.scope})

    async def body() -> None:
        async with connected(harness, sandbox) as provider:
            # A run already there in the first scope, listed by the refresh.
            there = await provider.start(StartRequest("other", "other000-1", jobs[0]))
            advance(sandbox, 3600)  # ended: a one-at-a-time API takes our start
            asked = time.monotonic()
            listing = await provider.list_runs(since=None, scopes=scopes)
            answered = time.monotonic()
            listed = {
                ("contract", s): sorted(r.run_id for r in listing.runs if r.scope == s)
                for s in scopes
            }
            # Each scope is listed one by one, and says when: what makes the snapshot fresh,
            # however long before the refresh began (thousands of scopes take minutes).
            assert sorted(listing.listed_at) == scopes
            assert all(asked <= at <= answered for at in listing.listed_at.values())
            refreshed = RefreshedScopes(
                listed,
                taken=asked - 10 * SNAPSHOT_FRESH,
                listed_at={("contract", s): at for s, at in listing.listed_at.items()},
            )
            journal = Journal(tmp_path / "journal")
            before = provider.calls
            plan = _plan(desired, datetime.now(UTC))
            result = await apply_plan(plan, {"contract": provider}, journal, refreshed=refreshed)
            journal.close()
            assert not result.failures, result.failures
            # The starts, and a listing for each start after the first in its scope.
            assert provider.calls - before == 2 * len(desired) - len(scopes)
        priors = {
            e.record.name: e.record.prior_runs
            for e in read_entries(tmp_path / "journal")
            if isinstance(e, IntentEntry)
        }
        assert priors["spec-0"] == [there.run_id]  # the refresh's
        started: dict[str | None, list[str]] = {}
        for d in desired:
            earlier = started.setdefault(d.scope, [])
            assert set(earlier) <= set(priors[d.name] or ())
            run_id = result.records[d.name].run_id
            assert run_id is not None
            earlier.append(run_id)

    asyncio.run(body())


def test_a_second_start_in_a_scope_or_a_stale_refresh_lists_the_scope_again() -> None:
    now = time.monotonic()
    refreshed = RefreshedScopes({("contract", "s"): ["1"]}, taken=now)
    assert refreshed.take("contract", "s", now) == ["1"]
    assert refreshed.take("contract", "s", now) is None  # once: it misses the first's run
    stale = RefreshedScopes({("contract", "s"): ["1"]}, taken=now - SNAPSHOT_FRESH - 1)
    assert stale.take("contract", "s", now) is None


def test_a_scope_listed_one_by_one_is_as_fresh_as_its_own_listing() -> None:
    now = time.monotonic()
    runs = {("contract", "early"): ["1"], ("contract", "late"): ["2"], ("contract", "x"): []}
    listed_at = {
        ("contract", "early"): now - SNAPSHOT_FRESH - 1,
        ("contract", "late"): now - SNAPSHOT_FRESH + 1,
    }
    refreshed = RefreshedScopes(runs, taken=now - 2 * SNAPSHOT_FRESH, listed_at=listed_at)
    assert refreshed.take("contract", "late", now) == ["2"]
    assert refreshed.take("contract", "early", now) is None
    assert refreshed.take("contract", "x", now) is None  # no time of its own: the refresh's


@keyless
def test_a_listing_since_a_time_still_lists_the_whole_scope(
    harness: Harness, sandbox: BackgroundSandbox
) -> None:
    """What ``lists_scopes_whole`` promises: the refresh (which passes ``since``) holds every
    run of a scope, old ones too, as a snapshot must."""
    job = harness.job(0)
    kind = provider_type(harness)
    # One scope, and two (Matatika then lists its workspace, each run naming its pipeline).
    first, second = kind.scope(job), kind.scope(harness.job(1))
    assert first is not None
    assert second is not None
    listed = [[first], sorted({first, second})]

    async def body() -> None:
        async with connected(harness, sandbox) as provider:
            old = await provider.start(StartRequest("old", "old00000-1", job))
            advance(sandbox, 3600)
            later = datetime.now(UTC) + timedelta(days=2)
            for scopes in listed:
                listing = await provider.list_runs(since=later, scopes=scopes)
                found = {r.run_id: r.scope for r in listing.runs}
                assert found.get(old.run_id) == kind.scope(job)

    asyncio.run(body())
