"""The HTTP client shared by adapters: call counting, concurrency and rate limits, retries of
safe calls, and translation of every failure into the ``ApiError`` hierarchy."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from reconciler.errors import (
    ApiError,
    AuthError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from reconciler.spec.models import RateLimit

if TYPE_CHECKING:
    from reconciler.providers.base import ProviderContext

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_ATTEMPTS = 4
MAX_BODY_IN_MESSAGE = 300


class TokenBucket:
    """Client-side rate limit: ``calls`` per ``per`` seconds, tightened by server hints."""

    def __init__(self, limit: RateLimit | None) -> None:
        self.capacity = float(limit.calls) if limit else float("inf")
        self.rate = limit.calls / limit.per if limit and limit.per else float("inf")
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        async with self._lock:
            if self.capacity == float("inf"):
                await asyncio.sleep(max(0.0, self.updated - time.monotonic()))
                return
            while True:
                now = time.monotonic()
                if now < self.updated:  # paused by a 429
                    await asyncio.sleep(self.updated - now)
                    continue
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)

    def tokens_left(self) -> float | None:
        """Tokens available now (refilled as of now); None without a limit."""
        if self.capacity == float("inf"):
            return None
        refill = max(0.0, time.monotonic() - self.updated) * self.rate
        return min(self.capacity, self.tokens + refill)

    def pause(self, seconds: float) -> None:
        """A 429: no call until ``seconds`` from now."""
        self.tokens = min(self.tokens, 0.0)
        self.updated = max(self.updated, time.monotonic() + seconds)

    def observe_remaining(self, remaining: int) -> None:
        """The server knows calls made by others with the same key: never exceed its count."""
        self.tokens = min(self.tokens, float(remaining))


ErrorMessage = Callable[[httpx.Response], str]


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one (an error page, say)."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def json_message(response: httpx.Response) -> str:
    """The server's ``{"message": ...}``, else the start of the body."""
    body = json_object(response)
    if body is not None and isinstance(body.get("message"), str):
        return str(body["message"])
    text = response.text.strip()
    return text[:MAX_BODY_IN_MESSAGE] or response.reason_phrase


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, min(float(value), 60.0))
    except ValueError:
        return 1.0


def error_for(label: str, response: httpx.Response, message: str) -> ApiError:
    status = response.status_code
    if status == 429:
        return RateLimitedError(label, message, retry_after=_retry_after(response))
    kinds: dict[int, type[ApiError]] = {
        400: InvalidRequestError,
        401: AuthError,
        403: AuthError,
        404: NotFoundError,
        409: ConflictError,
        422: InvalidRequestError,
    }
    kind = kinds.get(status, ServerError if status >= 500 else ApiError)
    return kind(label, message, status=status)


# What must hold for a request to leave now (an apply under a lease: still within it, and
# for a request that acts, for its timeout more), and who hears of one whose writing
# outlasted it. Set by whoever performs actions, for the calls made inside. Checked as each
# request enters httpx and again as its headers, then its body, are about to be written: a
# process paused after a check made any earlier (waiting for a slot, a token, a login's
# answer, or between a request's headers and its body) would send a start its successor may
# have made meanwhile. A pause inside the last write itself cannot be prevented by a client;
# checked once more after it, such a request is reported.
@dataclass(frozen=True)
class SendGuard:
    # Given the seconds the request may yet take (its timeout; 0 for a read): returns when
    # they are surely within the lease, perhaps after waiting; raises to refuse the request.
    check: Callable[[float], Awaitable[None]]
    written_late: Callable[[str], None]  # a request (method and path) written past it


_send_guard: ContextVar[SendGuard | None] = ContextVar("send_guard", default=None)
# The headers and the body are written apart, with the event loop free in between: a server
# acts on the request only once its body is in, so the body's write is checked too.
_BEFORE_WRITES = frozenset(
    f"{version}.send_request_{part}.started"
    for version in ("http11", "http2")
    for part in ("headers", "body")
)
_AFTER_WRITES = frozenset({"http11.send_request_body.complete", "http2.send_request_body.complete"})


@contextlib.contextmanager
def checked_sends(guard: SendGuard) -> Iterator[None]:
    """Every request sent inside (by tasks created inside too) passes ``guard``."""
    token = _send_guard.set(guard)
    try:
        yield
    finally:
        _send_guard.reset(token)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every client (httpx's default: certifi, or SSL_CERT_FILE/DIR):
    each client built its own, loading the CA bundle for ~30 ms."""
    return httpx.create_ssl_context()


@dataclass(frozen=True)
class Traffic:
    """An instance's calls so far, for metrics: sent, answered 429, and the rate limit's
    tokens left now (None: no limit configured)."""

    calls: int
    rate_limited: int
    tokens_left: float | None


class ApiClient:
    """An httpx.AsyncClient with the behaviour every adapter needs."""

    def __init__(
        self,
        *,
        label: str,
        base_url: str,
        headers: dict[str, str],
        concurrency: int,
        rate_limit: RateLimit | None,
        transport: httpx.AsyncBaseTransport | None = None,
        auth: httpx.Auth | None = None,
        error_message: ErrorMessage = json_message,
        timeout: float = 30.0,
    ) -> None:
        self.label = label
        self.calls = 0
        self.rate_limited = 0  # 429 answers
        self._error_message = error_message
        self._timeout = timeout
        self._slots = asyncio.Semaphore(concurrency)
        self._bucket = TokenBucket(rate_limit)
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            auth=auth,
            transport=transport,
            timeout=timeout,
            verify=_tls_context(),
            follow_redirects=False,  # a 30x must not carry a credential to another host
            # Every request passes here, those of an auth flow (a login) too.
            event_hooks={"request": [self._sending]},
        )

    async def _sending(self, request: httpx.Request) -> None:
        guard = _send_guard.get()
        if guard is not None:
            # A request that acts (a start, a stop, a login) needs its answer, or the end of
            # its wait, within the lease: a successor must not resolve it while it may land.
            needed = 0.0 if request.method in SAFE_METHODS else self._timeout
            await guard.check(needed)
            # And at the last moments (httpcore's trace, on a real connection): before the
            # headers and before the body are written, then once they are.
            request.extensions["trace"] = functools.partial(self._writing, guard, request, needed)
        self.calls += 1

    async def _writing(
        self, guard: SendGuard, request: httpx.Request, needed: float, event: str, _: object
    ) -> None:
        if event in _BEFORE_WRITES:
            try:
                await guard.check(needed)
            except BaseException:
                self.calls -= 1  # counted as sent, but refused before it was
                raise
        elif event in _AFTER_WRITES:
            try:
                await guard.check(0.0)
            except Exception:
                guard.written_late(f"{request.method} {request.url.path}")

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send one logical request; safe methods are retried on 429, 5xx and transport errors."""
        attempts = MAX_ATTEMPTS if method in SAFE_METHODS else 1
        for attempt in range(1, attempts + 1):
            try:
                return await self._send_once(method, url, **kwargs)
            except (RateLimitedError, ServerError, TransportError) as exc:
                if attempt == attempts:
                    raise
                delay = exc.retry_after if isinstance(exc, RateLimitedError) else 0.2 * 2**attempt
                await asyncio.sleep(delay * (0.5 + random.random() / 2))
        raise AssertionError("unreachable")

    async def _send_once(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        await self._bucket.take()
        async with self._slots:
            sent = time.monotonic()  # after the waits for a token and a slot
            try:
                response = await self._client.request(method, url, **kwargs)
            except httpx.HTTPError as exc:
                why = transport_reason(exc)
                raise TransportError(self.label, f"{method} {url}: {why}") from exc
        response.extensions[_SENT_AT] = sent
        remaining = response.headers.get("X-RateLimit-Remaining")
        if remaining is not None and remaining.isdigit():
            self._bucket.observe_remaining(int(remaining))
        if response.is_success:
            return response
        error = error_for(self.label, response, self._error_message(response))
        if isinstance(error, RateLimitedError):
            self.rate_limited += 1
            self._bucket.pause(error.retry_after)  # every caller of this instance waits
        raise error

    def traffic(self) -> Traffic:
        return Traffic(self.calls, self.rate_limited, self._bucket.tokens_left())

    async def aclose(self) -> None:
        await self._client.aclose()


_SENT_AT = "reconciler.sent_at"


def sent_at(response: httpx.Response) -> float:
    """When the request ``response`` answers was handed to httpx by ``ApiClient.request``
    (``time.monotonic()``): the answer is at least this recent."""
    return float(response.extensions[_SENT_AT])


def instance_client(
    context: ProviderContext,
    label: str,
    *,
    base_url: str,
    headers: dict[str, str],
    auth: httpx.Auth | None = None,
    rate_limit_default: RateLimit | None = None,
    error_message: ErrorMessage = json_message,
) -> ApiClient:
    """An instance's client: its concurrency, timeout and rate limit (else the provider
    type's default) from ``reconciler.yaml``, its transport from the context."""
    config = context.config
    return ApiClient(
        label=label,
        base_url=base_url,
        headers=headers,
        auth=auth,
        concurrency=config.concurrency,
        timeout=float(config.timeout),
        rate_limit=config.rate_limit or rate_limit_default,
        transport=context.transport,
        error_message=error_message,
    )


class HttpAdapter:
    """What an adapter over one ``ApiClient`` (``_http``) reports and closes the same way."""

    _http: ApiClient

    @property
    def calls(self) -> int:
        return self._http.calls

    def traffic(self) -> Traffic:
        return self._http.traffic()

    async def aclose(self) -> None:
        await self._http.aclose()


# What failed, in words (messages never name a Python class): most specific first.
_TRANSPORT_REASONS: tuple[tuple[type[httpx.HTTPError], str], ...] = (
    (httpx.ConnectTimeout, "no connection within the timeout"),
    (httpx.ReadTimeout, "no answer within the timeout"),
    (httpx.WriteTimeout, "the request could not be sent within the timeout"),
    (httpx.PoolTimeout, "no free connection within the timeout"),
    (httpx.ProxyError, "the proxy refused the connection"),
    (httpx.ConnectError, "cannot connect"),
    (httpx.ReadError, "the connection broke while reading the answer"),
    (httpx.WriteError, "the connection broke while sending the request"),
    (httpx.RemoteProtocolError, "the connection was closed without a complete answer"),
    (httpx.LocalProtocolError, "the request could not be sent as HTTP"),
    (httpx.UnsupportedProtocol, "not an http or https URL"),
    (httpx.TooManyRedirects, "too many redirects"),
    (httpx.DecodingError, "the answer could not be decoded"),
    (httpx.TimeoutException, "timed out"),
)


def transport_reason(exc: httpx.HTTPError) -> str:
    """Why a request got no answer, in words."""
    return next(
        (why for kind, why in _TRANSPORT_REASONS if isinstance(exc, kind)), "the request failed"
    )
