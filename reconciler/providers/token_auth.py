"""Bearer tokens obtained from a token endpoint: a login, or an OAuth client-credentials grant.

One exchange serves the requests that arrive together; the token is exchanged again shortly
before the lifetime the endpoint gave runs out, and once on a 401 (revoked, or an expiry the
endpoint did not announce). The exchange's own request is counted like any other call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

import httpx

from reconciler.errors import AuthError
from reconciler.providers.http import error_for, json_message

RENEW_SECONDS = 60.0  # exchange again this long before an announced expiry


@dataclass(frozen=True)
class Exchange:
    """How one API hands out tokens."""

    request: Callable[[], httpx.Request]
    # The token and its lifetime in seconds (None: until a 401) from a successful answer.
    read: Callable[[httpx.Response], tuple[str, float | None]]
    name: str = "login"  # prefixes the endpoint's error message
    # Statuses by which the endpoint refuses the credentials, besides 401/403.
    refusals: tuple[int, ...] = ()
    message: Callable[[httpx.Response], str] = json_message


class TokenExchangeAuth(httpx.Auth):
    def __init__(
        self, label: str, exchange: Exchange, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._label = label
        self._exchange = exchange
        self._clock = clock
        self._token: str | None = None
        self._renew_at: float | None = None
        self._lock = asyncio.Lock()

    def _stale(self) -> bool:
        return self._token is None or (
            self._renew_at is not None and self._clock() >= self._renew_at
        )

    async def _keep(self, response: httpx.Response) -> None:
        await response.aread()  # async flows read bodies themselves
        if not response.is_success:
            message = f"{self._exchange.name}: {self._exchange.message(response)}"
            error = error_for(self._label, response, message)
            if response.status_code in self._exchange.refusals:
                error = AuthError(self._label, error.api_message, status=response.status_code)
            raise error
        token, lifetime = self._exchange.read(response)
        self._token = token
        self._renew_at = (
            None if lifetime is None else self._clock() + max(lifetime - RENEW_SECONDS, 0.0)
        )

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._stale():
            async with self._lock:  # one exchange for the requests that arrive together
                if self._stale():
                    await self._keep((yield self._exchange.request()))
        used = self._token
        request.headers["Authorization"] = f"Bearer {used}"
        response = yield request
        if response.status_code == 401:
            async with self._lock:
                if self._token == used:  # nobody renewed it meanwhile
                    await self._keep((yield self._exchange.request()))
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request
