"""The shared HTTP client: rate limiting (the token bucket, tightened by the server), and
requests refused when the apply sending them may have lost the state's lease."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from reconciler.errors import RateLimitedError
from reconciler.providers.http import ApiClient, SendGuard, TokenBucket, checked_sends
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


class _Expired(Exception):
    pass


@pytest.fixture
def loopback() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on a free port: its base URL and the paths it received."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if len(self.rfile.read(length)) < length:
                return  # the client went away before its body was in: nothing to act on
            seen.append(self.path)
            if self.path == "/slow":
                time.sleep(0.4)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_POST

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()
    server.server_close()


def _client(base_url: str, concurrency: int = 4) -> ApiClient:
    return ApiClient(
        label="t", base_url=base_url, headers={}, concurrency=concurrency, rate_limit=None
    )


def test_a_request_refused_at_the_last_moment_never_leaves(
    loopback: tuple[str, list[str]],
) -> None:
    """The check runs again as the headers are about to be written: a lease lost between the
    first check and then refuses the request, and it is not counted as sent."""
    base_url, seen = loopback
    late: list[str] = []
    checks: list[int] = []

    async def second_check_fails(needed: float) -> None:
        checks.append(1)
        if len(checks) == 2:
            raise _Expired

    async def body() -> int:
        client = _client(base_url)
        with checked_sends(SendGuard(second_check_fails, late.append)), pytest.raises(_Expired):
            await client.request("POST", "/start")
        calls = client.calls
        await client.aclose()
        return calls

    assert asyncio.run(body()) == 0
    assert len(checks) == 2
    assert (seen, late) == ([], [])


def test_a_request_refused_between_its_headers_and_its_body_is_not_acted_on(
    loopback: tuple[str, list[str]],
) -> None:
    """Headers and body are written apart, the event loop free in between: a pause there
    ends with the body's check, and the server never has a whole request."""
    base_url, seen = loopback
    late: list[str] = []
    checks: list[int] = []

    async def third_check_fails(needed: float) -> None:  # on entering httpx, headers, body
        checks.append(1)
        if len(checks) == 3:
            raise _Expired

    async def body() -> int:
        client = _client(base_url)
        with checked_sends(SendGuard(third_check_fails, late.append)), pytest.raises(_Expired):
            await client.request("POST", "/start", json={"run_key": "k-1"})
        await client.request("POST", "/after")  # the client goes on, on a new connection
        calls = client.calls
        await client.aclose()
        return calls

    assert asyncio.run(body()) == 1
    time.sleep(0.1)
    assert (seen, late) == (["/after"], [])


def test_a_request_waiting_for_a_slot_is_checked_when_it_gets_one(
    loopback: tuple[str, list[str]],
) -> None:
    """One call at a time: the second waits while the first is answered; the deadline passes
    meanwhile (as under SIGSTOP); the second is refused, not sent late."""
    base_url, seen = loopback
    late: list[str] = []
    deadline = time.monotonic() + 0.15

    async def within_deadline(needed: float) -> None:
        if time.monotonic() >= deadline:
            raise _Expired

    async def body() -> tuple[object, object, int]:
        client = _client(base_url, concurrency=1)
        with checked_sends(SendGuard(within_deadline, late.append)):
            slow, refused = await asyncio.gather(
                client.request("POST", "/slow"),
                client.request("POST", "/start"),
                return_exceptions=True,
            )
        calls = client.calls
        await client.aclose()
        return slow, refused, calls

    slow, refused, calls = asyncio.run(body())
    assert isinstance(slow, httpx.Response)
    assert isinstance(refused, _Expired)
    assert (seen, late) == (["/slow"], [])
    assert calls == 1


async def _no_check(needed: float) -> None:
    pass


def test_requests_outside_checked_sends_are_not_checked(
    loopback: tuple[str, list[str]],
) -> None:
    base_url, seen = loopback
    late: list[str] = []

    async def body() -> None:
        client = _client(base_url)
        with checked_sends(SendGuard(_no_check, late.append)):
            await client.request("POST", "/inside")
        await client.request("POST", "/outside")
        await client.aclose()

    asyncio.run(body())
    assert (seen, late) == (["/inside", "/outside"], [])


def test_a_request_written_past_the_deadline_is_reported(
    loopback: tuple[str, list[str]],
) -> None:
    """A pause inside the last write cannot be prevented: the check after it names the
    request, for the apply to report."""
    base_url, seen = loopback
    late: list[str] = []
    checks: list[int] = []

    # entering httpx, headers, body, then after the body
    async def fourth_check_fails(needed: float) -> None:
        checks.append(1)
        if len(checks) == 4:
            raise _Expired

    async def body() -> int:
        client = _client(base_url)
        with checked_sends(SendGuard(fourth_check_fails, late.append)):
            response = await client.request("POST", "/start?x=1", json={"run_key": "k-1"})
        assert response.status_code == 200
        calls = client.calls
        await client.aclose()
        return calls

    assert asyncio.run(body()) == 1
    assert (seen, late) == (["/start?x=1"], ["POST /start"])


def test_a_request_that_acts_needs_its_timeout_left_and_a_read_needs_none(
    loopback: tuple[str, list[str]],
) -> None:
    """What the guard is asked for at each check: a POST (a start, a stop, a login) its
    client's timeout, before the request and before each write; after the body, and for a
    GET, only that the lease still holds."""
    base_url, _ = loopback
    asked: list[tuple[str, float]] = []

    def recording(method: str) -> Callable[[float], Awaitable[None]]:
        async def check(needed: float) -> None:
            asked.append((method, needed))

        return check

    async def body() -> None:
        client = ApiClient(
            label="t", base_url=base_url, headers={}, concurrency=1, rate_limit=None, timeout=7
        )
        with checked_sends(SendGuard(recording("POST"), lambda _: None)):
            await client.request("POST", "/start")
        with checked_sends(SendGuard(recording("GET"), lambda _: None)):
            await client.request("GET", "/runs")
        await client.aclose()

    asyncio.run(body())
    assert asked[:4] == [("POST", 7.0), ("POST", 7.0), ("POST", 7.0), ("POST", 0.0)]
    assert {needed for method, needed in asked if method == "GET"} == {0.0}
