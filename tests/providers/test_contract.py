"""One contract, every provider: each adapter against its emulator over real HTTP.

start; list across at least three pages; get; stop through to the terminal status; bad
credentials; unknown id; 429 with Retry-After; and recognising our own run after the journal
shows an intent with no recorded run id (by key, or by the intent's snapshot where runs
cannot carry a key).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from reconciler.engine.actions import ActionKind
from reconciler.engine.desired import desired_run
from reconciler.engine.plan import plan_actions
from reconciler.engine.records import new_record
from reconciler.errors import AuthError, NotFoundError, RateLimitedError
from reconciler.providers.base import Provider, ProviderContext, ProviderType, StartRequest
from reconciler.providers.registry import provider_types
from reconciler.sandbox.matatika.seed import MatatikaSeed
from reconciler.sandbox.runner.seed import ExecutionProfile, RunnerSeed, RunnerUser
from reconciler.sandbox.seed import Seed
from reconciler.sandbox.server import BackgroundSandbox
from reconciler.sandbox.vonage.seed import VonageJob, VonageSeed
from reconciler.sandbox.xplenty.seed import (
    RunProfile,
    XplentyAccount,
    XplentyRuns,
    XplentySeed,
)
from reconciler.source.load import provider_options
from reconciler.spec.models import JobRun, ProviderInstance
from reconciler.spec.runs import RunStatus
from reconciler.state.model import Lockfile
from tests.conftest import advance
from tests.sandbox.test_vonage_emulator import jwt


@dataclass(frozen=True)
class Harness:
    """What the contract needs to know to drive one provider type."""

    type: str
    account: str | None
    credentials: dict[str, str]
    wrong_credentials: dict[str, str]
    job: Callable[[int], dict[str, Any]]  # the i-th job (distinct pipelines where one at a time)
    unknown_id: str
    strict_seed: Callable[[dict[str, str]], Seed]  # accepts only the given credentials
    limited_seed: Callable[[int], Seed]  # answers 429 after n calls per credential
    failing_seed: Seed  # every run fails after some running
    failure: str  # the failed run's account (a regular expression)
    options: dict[str, Any] = field(default_factory=dict)
    run_for: float = 5  # seconds of sandbox time until a started run is running
    progress: bool = False  # the API reports a running run's progress (0..1)


HARNESSES = [
    Harness(
        type="xplenty",
        account="acme",
        credentials={"api_key": "good-key"},
        wrong_credentials={"api_key": "wrong-key"},
        job=lambda i: {"cluster_id": 1, "package_id": 2},
        unknown_id="999999",
        strict_seed=lambda c: Seed(
            xplenty=XplentySeed(accounts={"acme": XplentyAccount(api_keys=[c["api_key"]])})
        ),
        limited_seed=lambda n: Seed(xplenty=XplentySeed(rate_limit=n)),
        failing_seed=Seed(
            xplenty=XplentySeed(runs=XplentyRuns(default=RunProfile(outcome="failed")))
        ),
        failure=r"job failed: Component 'destination_1' \(Database destination\) failed: .+",
        progress=True,
    ),
    Harness(
        type="vonage",
        account=None,
        credentials={"token": jwt("good")},
        wrong_credentials={"token": jwt("wrong")},
        job=lambda i: {"job_id": "job-1", "duration": 600},
        unknown_id="00000000-0000-0000-0000-000000000000",
        strict_seed=lambda c: Seed(vonage=VonageSeed(tokens=[c["token"]])),
        limited_seed=lambda n: Seed(vonage=VonageSeed(rate_limit=n)),
        failing_seed=Seed(vonage=VonageSeed(jobs={"job-1": VonageJob(outcome="failed")})),
        failure=r"(\d+) of \d+ deliveries failed: recipients \d+, delivered \d+, failed \1, .+",
        run_for=1,
    ),
    Harness(
        type="runner",
        account="ACME",
        credentials={"username": "ops", "password": "good"},
        wrong_credentials={"username": "ops", "password": "wrong"},
        job=lambda i: {"job_id": "1111505e-6773-494a-b2bf-d2cc2684710d", "hosts": [{"id": "h"}]},
        unknown_id="1111505e-6773-494a-b2bf-d2cc2684710d/no-such-execution",
        strict_seed=lambda c: Seed(
            runner=RunnerSeed(
                users={c["username"]: RunnerUser(password=c["password"], account_alias="ACME")}
            )
        ),
        limited_seed=lambda n: Seed(runner=RunnerSeed(rate_limit=n, max_concurrent=1000)),
        failing_seed=Seed(runner=RunnerSeed(executions=ExecutionProfile(outcome="FAILURE"))),
        failure=r"playbook failed: failed hosts: h",
    ),
    Harness(
        type="matatika",
        account=None,
        credentials={"token": "good-token"},
        wrong_credentials={"token": "wrong-token"},
        job=lambda i: {"pipeline_id": f"pipeline-{i}"},
        unknown_id="00000000-0000-0000-0000-000000000000",
        strict_seed=lambda c: Seed(matatika=MatatikaSeed(tokens=[c["token"]])),
        limited_seed=lambda n: Seed(matatika=MatatikaSeed(rate_limit=n)),
        failing_seed=Seed(matatika=MatatikaSeed(outcome="ERROR", status_set="seed")),
        failure=r"task meltano elt failed \(exit code 1\): Extractor failed: .+",
        options={"workspace": "ws-1"},
    ),
]


def provider_type(harness: Harness) -> ProviderType:
    return provider_types()[harness.type]


def connect(
    harness: Harness, sandbox: BackgroundSandbox, credentials: Mapping[str, str] | None = None
) -> Provider:
    kind = provider_type(harness)
    instance = kind.for_sandbox(
        ProviderInstance(
            type=harness.type,
            base_url="https://unused.example",
            account=harness.account,
            credentials={k: f"env:{k.upper()}" for k in harness.credentials},
            options=harness.options,
        ),
        sandbox.url,
    )
    context = ProviderContext(
        "contract",
        instance,
        dict(credentials or harness.credentials),
        None,
        provider_options(kind, instance),
    )
    return kind.create(context)


@asynccontextmanager
async def connected(
    harness: Harness, sandbox: BackgroundSandbox, credentials: Mapping[str, str] | None = None
) -> AsyncIterator[Provider]:
    provider = connect(harness, sandbox, credentials)
    try:
        yield provider
    finally:
        await provider.aclose()


def scopes(harness: Harness, jobs: list[dict[str, Any]]) -> list[str]:
    kind = provider_type(harness)
    return sorted({s for s in (kind.scope(j) for j in jobs) if s is not None})


def run(body: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return asyncio.run(body())


contract = pytest.mark.parametrize("harness", HARNESSES, ids=[h.type for h in HARNESSES])


@contract
def test_start_get_and_list_across_three_pages(
    harness: Harness, sandbox: BackgroundSandbox
) -> None:
    count = 201  # pages of 100: three pages
    jobs = [harness.job(i) for i in range(count)]

    async def body() -> None:
        async with connected(harness, sandbox) as provider:
            started = await asyncio.gather(
                *(
                    provider.start(StartRequest(f"r{i}", f"k{i:04d}-1", job))
                    for i, job in enumerate(jobs)
                )
            )
            first = started[0]
            assert first.status in (RunStatus.PENDING, RunStatus.RUNNING)
            if provider_type(harness).traits.keyed:
                assert first.run_key == "k0000-1"
            before = provider.calls
            listing = await provider.list_runs(since=None, scopes=scopes(harness, jobs))
            assert provider.calls - before >= 3
            assert {r.run_id for r in listing.runs} == {r.run_id for r in started}
            fetched = await provider.get_run(first.run_id)
            assert (fetched.run_id, fetched.run_key) == (first.run_id, first.run_key)

    run(body)


@contract
def test_a_failed_run_says_why_and_a_running_one_how_far(harness: Harness) -> None:
    """Issue 21: the API's account of a failure, in the neutral shape, from a single read and
    from the listing; a running run's start (so its elapsed time), and progress where the API
    reports it."""

    async def body(sandbox: BackgroundSandbox) -> None:
        async with connected(harness, sandbox) as provider:
            started = await provider.start(StartRequest("f", "fail0001-1", harness.job(0)))
            advance(sandbox, harness.run_for)
            running = await provider.get_run(started.run_id)
            assert (running.status, running.failure) == (RunStatus.RUNNING, None)
            assert running.started_at is not None
            assert (running.progress is not None) is harness.progress
            advance(sandbox, 3600)
            failed = await provider.get_run(started.run_id)
            listing = await provider.list_runs(since=None, scopes=scopes(harness, [harness.job(0)]))
            listed = next(r for r in listing.runs if r.run_id == started.run_id)
            for run in (failed, listed):
                assert run.status is RunStatus.FAILED
                assert run.failure is not None
                assert re.fullmatch(harness.failure, run.failure.summary()), run.failure
            assert failed.elapsed_at(datetime.now(UTC)) is not None

    with BackgroundSandbox(seed=harness.failing_seed) as server:
        run(lambda: body(server))


@contract
def test_stop_reaches_the_terminal_status(harness: Harness, sandbox: BackgroundSandbox) -> None:
    async def body() -> None:
        async with connected(harness, sandbox) as provider:
            started = await provider.start(StartRequest("s", "stop0001-1", harness.job(0)))
            advance(sandbox, harness.run_for)
            assert (await provider.get_run(started.run_id)).status is RunStatus.RUNNING
            stopping = await provider.stop_run(started.run_id, harness.job(0))
            assert stopping.status in (RunStatus.STOPPING, RunStatus.STOPPED, RunStatus.RUNNING)
            advance(sandbox, 10)
            assert (await provider.get_run(started.run_id)).status is RunStatus.STOPPED
            again = await provider.stop_run(started.run_id, harness.job(0))  # already ended
            assert again.status is RunStatus.STOPPED

    run(body)


@contract
def test_bad_credentials_are_an_auth_error(harness: Harness) -> None:
    async def body(server: BackgroundSandbox) -> None:
        async with connected(harness, server, harness.wrong_credentials) as provider:
            with pytest.raises(AuthError) as caught:
                await provider.list_runs(since=None, scopes=scopes(harness, [harness.job(0)]))
            assert caught.value.status in (400, 401)
            assert harness.wrong_credentials[next(iter(harness.wrong_credentials))] not in str(
                caught.value
            )
        async with connected(harness, server) as good:
            await good.list_runs(since=None, scopes=scopes(harness, [harness.job(0)]))

    with BackgroundSandbox(seed=harness.strict_seed(harness.credentials)) as server:
        run(lambda: body(server))


@contract
def test_unknown_id_is_not_found(harness: Harness, sandbox: BackgroundSandbox) -> None:
    async def body() -> None:
        async with connected(harness, sandbox) as provider:
            with pytest.raises(NotFoundError):
                await provider.get_run(harness.unknown_id)

    run(body)


@contract
def test_429_carries_retry_after_and_a_start_is_not_retried(harness: Harness) -> None:
    async def body(server: BackgroundSandbox) -> None:
        async with connected(harness, server) as provider:
            await provider.start(StartRequest("a", "limit001-1", harness.job(0)))
            calls = provider.calls
            with pytest.raises(RateLimitedError) as caught:
                await provider.start(StartRequest("b", "limit002-1", harness.job(1)))
            assert caught.value.retry_after > 0
            assert provider.calls == calls + 1

    with BackgroundSandbox(seed=harness.limited_seed(1)) as server:
        run(lambda: body(server))


@contract
def test_an_unconfirmed_start_is_recognised_as_ours(
    harness: Harness, sandbox: BackgroundSandbox
) -> None:
    """The apply died after the start call and before recording its answer: the journal
    holds the intent (with the scope's snapshot where runs cannot carry a key)."""
    kind = provider_type(harness)
    job = harness.job(0)
    spec = JobRun.model_validate(
        {
            "apiVersion": "reconciler/v1",
            "kind": "JobRun",
            "metadata": {"name": "mine"},
            "spec": {"provider": "contract", "job": job},
        }
    )
    desired = desired_run(
        spec,
        job=job,
        provider_type=kind.name,
        file="specs/mine.yaml",
        scope=kind.scope(job),
        traits=kind.traits,
    )

    async def body() -> None:
        async with connected(harness, sandbox) as provider:
            # Someone else's run, present before our intent.
            await provider.start(StartRequest("other", "other000-1", job))
            advance(sandbox, 3600)  # let it end, so that a one-at-a-time API takes our start
            prior = None
            if not kind.traits.keyed:
                listing = await provider.list_runs(since=None, scopes=scopes(harness, [job]))
                prior = sorted(r.run_id for r in listing.runs)
            intent = new_record(desired, attempt=1, failures=0, prior_runs=prior)
            ours = await provider.start(StartRequest("mine", intent.run_key, job))  # answer lost
            listing = await provider.list_runs(since=None, scopes=scopes(harness, [job]))
        lock = Lockfile(lineage="l", serial=1, runs={"mine": intent})
        planned = plan_actions(
            [desired], lock, {"contract": listing.runs}, now=datetime.now(UTC), prune=False
        )
        assert planned.records["mine"].run_id == ours.run_id
        # Recognised as ours: recorded, and never started a second time.
        assert [a.kind for a in planned.actions] in ([ActionKind.IN_PROGRESS], [ActionKind.DONE])

    run(body)


def test_every_registered_provider_has_a_harness() -> None:
    assert {h.type for h in HARNESSES} == set(provider_types())


def test_runner_token_is_cached_and_renewed_on_401() -> None:
    harness = next(h for h in HARNESSES if h.type == "runner")

    async def body(server: BackgroundSandbox) -> None:
        async with connected(harness, server) as provider:
            await asyncio.gather(
                *(provider.list_runs(since=None, scopes=[f"j{i}"]) for i in range(5))
            )
            advance(server, 120)  # the token expires: the next call gets a 401
            await provider.list_runs(since=None, scopes=["j0"])

    with BackgroundSandbox(seed=Seed(runner=RunnerSeed(token_ttl=60))) as server:
        run(lambda: body(server))
        logins = server.store.query("SELECT COUNT(*) AS n FROM runner_tokens")[0]["n"]
    assert logins == 2  # one for the five concurrent calls, one renewal
