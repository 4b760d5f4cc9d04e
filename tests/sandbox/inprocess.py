"""The sandbox in-process (httpx's ASGI transport), for tests that send many odd requests: the
same ASGI app as ``sandbox serve``, without a socket."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from starlette.types import ASGIApp

from reconciler.sandbox.app import create_app
from reconciler.sandbox.seed import Seed
from reconciler.sandbox.store import Store

XPLENTY = "/xplenty/acme/api"
RUNNER = "/runner/jobs/SBOX"
VONAGE = "/vonage/beta"
MATATIKA = "/matatika/api"
ACCEPT = {"Accept": "application/vnd.xplenty+json; version=2"}


def jwt(header: object = None, claims: object = None) -> str:
    def part(data: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    header = {"alg": "RS256", "typ": "JWT"} if header is None else header
    claims = {"application_id": "app"} if claims is None else claims
    return f"{part(header)}.{part(claims)}.sig"


class SandboxClient:
    """A synchronous client of an ASGI app: httpx's ASGI transport on a loop of its own."""

    def __init__(self, client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        self._client = client
        self._loop = loop

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)


@contextmanager
def sandbox_client(
    seed: Seed | None = None, *, raise_errors: bool = True
) -> Iterator[SandboxClient]:
    """A client of a fresh in-memory sandbox; ``raise_errors``: an exception in the app fails
    the test with its traceback (else it is the API's 500 answer)."""
    store = Store(None)
    try:
        with app_client(create_app(store, seed or Seed()), raise_errors=raise_errors) as client:
            yield client
    finally:
        store.close()


@contextmanager
def app_client(app: ASGIApp, *, raise_errors: bool = True) -> Iterator[SandboxClient]:
    """A client of this sandbox app."""
    transport = httpx.ASGITransport(app, raise_app_exceptions=raise_errors)
    loop = asyncio.new_event_loop()
    client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    try:
        yield SandboxClient(client, loop)
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()


def runner_token(client: SandboxClient) -> dict[str, str]:
    for _ in range(50):  # past injected faults, as a client retries
        response = client.post(
            "/runner/v2/authentication/login", json={"username": "u", "password": "p"}
        )
        if response.status_code not in (429, 503):
            break
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['bearerToken']}"}


def auth_headers(client: SandboxClient) -> dict[str, dict[str, str]]:
    """Headers that authenticate with each emulator of a default (auto-mode) seed."""
    return {
        "xplenty": {**ACCEPT, "Authorization": "Basic " + base64.b64encode(b"key:").decode()},
        "runner": runner_token(client),
        "vonage": {"Authorization": f"Bearer {jwt()}"},
        "matatika": {"Authorization": "Bearer token"},
    }
