"""The shared HTTP client's rate limiting: the token bucket, tightened by the server."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from reconciler.errors import RateLimitedError
from reconciler.providers.http import ApiClient, TokenBucket
from reconciler.spec.models import RateLimit


def test_bucket_allows_a_burst_then_paces() -> None:
    async def body() -> float:
        bucket = TokenBucket(RateLimit(calls=5, per=1))  # 5 a second
        began = time.monotonic()
        for _ in range(10):
            await bucket.take()
        return time.monotonic() - began

    assert 0.9 <= asyncio.run(body()) < 1.5


def test_server_remaining_and_429_tighten_the_bucket() -> None:
    answers = iter(
        [
            httpx.Response(200, json={}, headers={"X-RateLimit-Remaining": "0"}),
            httpx.Response(429, json={"message": "slow down"}, headers={"Retry-After": "1"}),
            httpx.Response(200, json={}),
        ]
    )

    async def body() -> list[float]:
        client = ApiClient(
            label="t",
            base_url="https://api.example",
            headers={},
            concurrency=2,
            rate_limit=RateLimit(calls=3600, per=3600),  # one a second once drained
            transport=httpx.MockTransport(lambda request: next(answers)),
        )
        moments = []
        began = time.monotonic()
        await client.request("POST", "/a")  # says: none left
        moments.append(time.monotonic() - began)
        with pytest.raises(RateLimitedError):
            await client.request("POST", "/b")  # waited ~1s for a token, then 429
        moments.append(time.monotonic() - began)
        await client.request("POST", "/c")  # waits out the Retry-After
        moments.append(time.monotonic() - began)
        await client.aclose()
        return moments

    first, second, third = asyncio.run(body())
    assert first < 0.2
    assert 0.8 < second < 1.6
    assert third - second >= 0.9
