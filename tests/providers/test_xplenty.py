"""The Xplenty adapter against the emulator over real HTTP; MockTransport only for the outer
boundary cases the emulator does not produce (a dropped connection, a 5xx then success)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest

from reconciler.errors import (
    AuthError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    TransportError,
)
from reconciler.providers.base import ProviderContext, RunStatus, StartRequest
from reconciler.providers.xplenty.client import ACCEPT, STATUS_MAP, XplentyProvider
from reconciler.sandbox.seed import Seed
from reconciler.sandbox.server import BackgroundSandbox
from reconciler.sandbox.xplenty.seed import Named, XplentyAccount, XplentySeed
from reconciler.spec.models import ProviderInstance
from tests.conftest import advance

JOB = {"cluster_id": 167, "package_id": 103, "variables": {"START": "'2026-11-01'"}}


def make(
    base_url: str,
    api_key: str = "k",
    transport: httpx.AsyncBaseTransport | None = None,
) -> XplentyProvider:
    return XplentyProvider(context(base_url, transport, api_key=api_key))


def run(body: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return asyncio.run(body())


@pytest.fixture
def provider_url(sandbox: BackgroundSandbox) -> str:
    return f"{sandbox.url}/xplenty"


def test_start_tags_run_with_key_and_get_reads_it(provider_url: str) -> None:
    async def body() -> None:
        provider = make(provider_url)
        started = await provider.start(StartRequest("orders", "abc-1", JOB))
        fetched = await provider.get_run(started.run_id)
        await provider.aclose()
        assert (started.run_key, started.status, started.api_status) == (
            "abc-1",
            RunStatus.PENDING,
            "idle",
        )
        assert fetched.run_key == "abc-1"
        assert provider.calls == 2

    run(body)


def test_list_follows_link_pages_and_bounds_by_since(sandbox: BackgroundSandbox) -> None:
    async def body() -> None:
        provider = make(f"{sandbox.url}/xplenty")
        await asyncio.gather(
            *(provider.start(StartRequest("n", f"k{i}-1", JOB)) for i in range(230))
        )
        before = provider.calls
        listing = await provider.list_runs(since=None)
        assert provider.calls - before == 3  # 100 + 100 + 30
        assert sorted(r.run_key or "" for r in listing.runs) == sorted(
            f"k{i}-1" for i in range(230)
        )
        assert [int(r.run_id) for r in listing.runs] == sorted(int(r.run_id) for r in listing.runs)
        assert listing.server_time is not None
        advance(sandbox, 3600)
        later = await provider.list_runs(since=listing.server_time.replace(year=2030))
        assert later.runs == []
        await provider.aclose()

    run(body)


def test_stop_goes_through_pending_stoppage_to_stopped(sandbox: BackgroundSandbox) -> None:
    async def body() -> None:
        provider = make(f"{sandbox.url}/xplenty")
        started = await provider.start(StartRequest("n", "k-1", JOB))
        advance(sandbox, 4)
        assert (await provider.get_run(started.run_id)).api_status == "running"
        stopping = await provider.stop_run(started.run_id)
        assert (stopping.api_status, stopping.status) == ("pending_stoppage", RunStatus.STOPPING)
        advance(sandbox, 1.5)
        assert (await provider.get_run(started.run_id)).api_status == "stopping"
        advance(sandbox, 2)
        stopped = await provider.get_run(started.run_id)
        assert (stopped.status, stopped.ended_at is not None) == (RunStatus.STOPPED, True)
        again = await provider.stop_run(started.run_id)  # 422 from the API: already finished
        assert again.status is RunStatus.STOPPED
        await provider.aclose()

    run(body)


def test_errors_keep_the_servers_message(provider_url: str) -> None:
    async def body() -> None:
        provider = make(provider_url)
        with pytest.raises(NotFoundError, match=r"etl \(xplenty\): Item not found. \(HTTP 404\)"):
            await provider.get_run("999")
        with pytest.raises(InvalidRequestError, match="cluster_id is missing or not an integer"):
            await provider.start(StartRequest("n", "k-1", {"cluster_id": "x", "package_id": 1}))
        await provider.aclose()
        anonymous = make(provider_url, api_key="")
        with pytest.raises(AuthError, match="missing or malformed API key"):
            await anonymous.get_run("1")
        await anonymous.aclose()

    run(body)


def test_seeded_account_rejects_wrong_key_and_unknown_package() -> None:
    seed = Seed(
        xplenty=XplentySeed(
            accounts={"acme": XplentyAccount(api_keys=["good"], clusters=[Named(id=167, name="c")])}
        )
    )

    async def body(url: str) -> None:
        bad = make(url, api_key="bad")
        with pytest.raises(AuthError, match="invalid API key"):
            await bad.list_runs(since=None)
        await bad.aclose()
        good = make(url, api_key="good")
        with pytest.raises(InvalidRequestError, match="Package 103 does not exist"):
            await good.start(StartRequest("n", "k-1", JOB))
        await good.aclose()

    with BackgroundSandbox(seed=seed) as server:
        asyncio.run(body(f"{server.url}/xplenty"))


def test_rate_limit_429_is_raised_after_retries_for_safe_calls() -> None:
    seed = Seed(xplenty=XplentySeed(rate_limit=2))

    async def body(url: str) -> None:
        provider = make(url)
        await provider.start(StartRequest("n", "k-1", JOB))
        await provider.get_run("1")
        with pytest.raises(RateLimitedError, match="Rate Limit Exceeded"):
            await provider.start(StartRequest("n", "k-2", JOB))  # a start is never retried
        assert provider.calls == 3
        await provider.aclose()

    with BackgroundSandbox(seed=seed) as server:
        asyncio.run(body(f"{server.url}/xplenty"))


def test_every_request_sends_the_versioned_accept_header_and_basic_auth() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[], headers={"Date": "Sun, 22 Nov 2026 10:00:00 GMT"})

    async def body() -> None:
        provider = make("https://api.example", transport=httpx.MockTransport(handler))
        listing = await provider.list_runs(since=None)
        await provider.aclose()
        assert listing.server_time is not None
        assert listing.server_time.isoformat() == "2026-11-22T10:00:00+00:00"

    run(body)
    request = seen[0]
    assert request.headers["accept"] == ACCEPT
    assert request.headers["authorization"] == "Basic azo="  # base64("k:")
    assert request.url.path == "/acme/api/jobs"


def test_safe_calls_retry_5xx_but_starts_do_not() -> None:
    answers = [500, 200]
    starts = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            starts.append(request)
            return httpx.Response(503, json={"message": "busy"})
        return httpx.Response(answers.pop(0), json={"id": 1, "status": "running", "variables": {}})

    async def body() -> None:
        provider = make("https://api.example", transport=httpx.MockTransport(handler))
        assert (await provider.get_run("1")).status is RunStatus.RUNNING
        with pytest.raises(Exception, match="busy"):
            await provider.start(StartRequest("n", "k-1", JOB))
        await provider.aclose()

    run(body)
    assert len(starts) == 1


def test_dropped_connection_becomes_transport_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    async def body() -> None:
        provider = make("https://api.example", transport=httpx.MockTransport(handler))
        closed = "POST /jobs: the connection was closed without a complete answer"
        with pytest.raises(TransportError, match=closed):
            await provider.start(StartRequest("n", "k-1", JOB))
        await provider.aclose()

    run(body)


def test_every_api_status_is_mapped() -> None:
    statuses = {
        "idle",
        "pending",
        "queued",
        "running",
        "completed",
        "failed",
        "pending_stoppage",
        "stopping",
        "stopped",
    }
    assert set(STATUS_MAP) == statuses
    assert {s for s, n in STATUS_MAP.items() if n.is_terminal} == {"completed", "failed", "stopped"}


def test_list_filters_by_status_and_package(sandbox: BackgroundSandbox) -> None:
    async def body() -> None:
        provider = make(f"{sandbox.url}/xplenty")
        first = await provider.start(StartRequest("n", "a-1", {**JOB, "package_id": 7}))
        await provider.start(StartRequest("n", "b-1", JOB))
        await provider.stop_run(first.run_id)
        stopping = await provider.list_jobs(status="pending_stoppage")
        by_package = await provider.list_jobs(package_id=7)
        await provider.aclose()
        assert [r.run_key for r in stopping.runs] == ["a-1"]
        assert [r.run_key for r in by_package.runs] == ["a-1"]

    run(body)


def test_rate_limit_status_is_read_and_free(provider_url: str) -> None:
    async def body() -> None:
        provider = make(provider_url)
        await provider.list_runs(since=None)
        assert await provider.rate_limit_status() == (5000, 4999)
        assert await provider.rate_limit_status() == (5000, 4999)
        await provider.aclose()

    run(body)


def test_calls_to_one_instance_are_bounded_by_its_concurrency() -> None:
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(201, json={"id": 1, "status": "idle", "variables": {}})

    async def body() -> None:
        provider = XplentyProvider(context("https://api.example", httpx.MockTransport(handler), 3))
        await asyncio.gather(
            *(provider.start(StartRequest("n", f"k{i}-1", JOB)) for i in range(20))
        )
        assert provider.calls == 20
        await provider.aclose()

    run(body)
    assert peak == 3


def context(
    base_url: str,
    transport: httpx.AsyncBaseTransport | None = None,
    concurrency: int = 4,
    *,
    api_key: str = "k",
) -> ProviderContext:
    config = ProviderInstance(
        type="xplenty",
        base_url=base_url,
        account="acme",
        credentials={"api_key": "env:K"},
        concurrency=concurrency,
    )
    return ProviderContext("etl", config, {"api_key": api_key}, transport)
