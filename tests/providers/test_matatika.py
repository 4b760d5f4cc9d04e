"""Matatika adapter specifics: the client-credentials grant instead of a ready token."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from reconciler.engine.apply import snapshot_scope
from reconciler.errors import AuthError
from reconciler.providers.base import ProviderContext, StartRequest
from reconciler.providers.matatika import PROVIDER
from reconciler.providers.matatika.client import MatatikaProvider, client_credentials
from reconciler.providers.token_auth import TokenExchangeAuth
from reconciler.sandbox.matatika.seed import MatatikaSeed
from reconciler.sandbox.seed import Seed
from reconciler.sandbox.server import BackgroundSandbox
from reconciler.spec.models import ProviderInstance

REFERENCES = {"client_id": "env:MATATIKA_CLIENT_ID", "client_secret": "env:MATATIKA_SECRET"}


def with_client(url: str, client_id: str, secret: str) -> MatatikaProvider:
    instance = PROVIDER.for_sandbox(
        ProviderInstance(type="matatika", base_url="https://x", credentials=REFERENCES), url
    )
    options = PROVIDER.options_model.model_validate(instance.options)  # type: ignore[union-attr]
    values = {"client_id": client_id, "client_secret": secret}
    return MatatikaProvider(ProviderContext("elt", instance, values, options=options))


def test_client_credentials_are_exchanged_once_for_a_token_the_api_accepts() -> None:
    seed = Seed(matatika=MatatikaSeed(tokens=[], clients={"reconciler": "s3cret"}))

    async def body(url: str) -> None:
        provider = with_client(url, "reconciler", "s3cret")
        run = await provider.start(StartRequest("load", "", {"pipeline_id": "p-1"}))
        listed = await provider.list_runs(since=None, scopes=["p-1"])
        assert [r.run_id for r in listed.runs] == [run.run_id]
        assert provider.calls == 3  # the grant, the start, the listing
        await provider.aclose()

        impostor = with_client(url, "reconciler", "guess")
        with pytest.raises(AuthError) as refused:
            await impostor.list_runs(since=None, scopes=["p-1"])
        await impostor.aclose()
        assert str(refused.value) == "elt (matatika): token: Unauthorized (HTTP 401)"

    with BackgroundSandbox(seed=seed) as server:
        asyncio.run(body(server.url))


def test_a_token_is_exchanged_again_a_minute_before_it_expires() -> None:
    grants: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            grants.append(json.loads(request.content))
            return httpx.Response(200, json={"access_token": f"t{len(grants)}", "expires_in": 120})
        return httpx.Response(200, json={"seen": request.headers["Authorization"]})

    now = [0.0]
    grant = client_credentials(
        "https://identity.invalid/oauth/token", "id", "secret", "https://app.matatika.com/api"
    )
    auth = TokenExchangeAuth("elt (matatika)", grant, clock=lambda: now[0])

    async def seen(client: httpx.AsyncClient) -> str:
        return str((await client.get("https://api.invalid/jobs")).json()["seen"])

    async def body() -> list[str]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler), auth=auth) as client:
            first = await seen(client)
            now[0] = 59.0  # renewal is due at 120 - 60 s
            second = await seen(client)
            now[0] = 61.0
            return [first, second, await seen(client)]

    assert asyncio.run(body()) == ["Bearer t1", "Bearer t1", "Bearer t2"]
    assert grants[0] == {
        "grant_type": "client_credentials",
        "client_id": "id",
        "client_secret": "secret",
        "audience": "https://app.matatika.com/api",
    }


def test_a_snapshot_of_one_pipeline_lists_that_pipeline_not_the_workspace() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        job = {"id": "j1", "status": "COMPLETE", "_embedded": {"pipeline": {"id": "p-1"}}}
        page = {"_embedded": {"jobs": [job]}, "page": {"totalPages": 1}}
        return httpx.Response(200, json=page)

    async def body() -> None:
        instance = ProviderInstance(
            type="matatika",
            base_url="https://app.matatika.com/api",
            credentials={"token": "env:T"},
            options={"workspace": "w-1"},
        )
        options = PROVIDER.options_model.model_validate(instance.options)  # type: ignore[union-attr]
        transport = httpx.MockTransport(handler)
        provider = MatatikaProvider(
            ProviderContext("elt", instance, {"token": "t"}, transport, options)
        )
        assert await snapshot_scope(provider, "p-1") == ["j1"]
        await provider.list_runs(since=None, scopes=["p-1", "p-2"])  # a refresh: the workspace
        await provider.aclose()

    asyncio.run(body())
    assert paths == ["/api/pipelines/p-1/jobs", "/api/workspaces/w-1/jobs"]
