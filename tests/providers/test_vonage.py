"""Vonage adapter specifics: key in the run name, window as startAt/endAt, the summary."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from reconciler.engine.actions import StartOrder
from reconciler.engine.apply import start_request
from reconciler.engine.desired import desired_run
from reconciler.errors import AuthError
from reconciler.providers.base import ProviderContext, RunStatus, StartRequest
from reconciler.providers.vonage import PROVIDER
from reconciler.providers.vonage.application_jwt import ApplicationJwtAuth
from reconciler.providers.vonage.client import VonageProvider, problem_message
from reconciler.sandbox.common import b64url_decode
from reconciler.sandbox.seed import Seed
from reconciler.sandbox.server import BackgroundSandbox
from reconciler.sandbox.vonage.jwt import application_jwt_problem
from reconciler.sandbox.vonage.seed import VonageSeed
from reconciler.spec.models import JobRun, ProviderInstance
from tests.conftest import advance
from tests.sandbox.test_vonage_emulator import jwt


def make(url: str, transport: httpx.AsyncBaseTransport | None = None) -> VonageProvider:
    instance = PROVIDER.for_sandbox(
        ProviderInstance(type="vonage", base_url="https://x", credentials={"token": "env:T"}), url
    )
    return VonageProvider(ProviderContext("campaigns", instance, {"token": jwt()}, transport))


def test_run_key_rides_in_the_name_and_window_becomes_start_and_end(
    sandbox: BackgroundSandbox,
) -> None:
    start = datetime(2030, 1, 1, 9, tzinfo=UTC)

    async def body() -> None:
        provider = make(sandbox.url)
        request = StartRequest(
            "promo",
            "abc123-1",
            {"job_id": "job-1", "name": "Pizza Campaign"},
            window_start=start,
            window_end=start + timedelta(hours=2),
        )
        run = await provider.start(request)
        listed = (await provider.list_runs(since=None)).runs
        await provider.aclose()
        assert (run.run_key, run.status, run.api_status) == (
            "abc123-1",
            RunStatus.PENDING,
            "scheduled",
        )
        assert [r.run_key for r in listed] == ["abc123-1"]

    asyncio.run(body())
    raw = httpx.get(f"{sandbox.url}/vonage/beta/runs", headers={"Authorization": f"Bearer {jwt()}"})
    stored = raw.json()["_embedded"]["runs"][0]
    assert stored["name"] == "Pizza Campaign [rk:abc123-1]"
    assert (stored["start_at"], stored["end_at"]) == (
        "2030-01-01T09:00:00.000Z",
        "2030-01-01T11:00:00.000Z",
    )


def test_without_window_the_run_lasts_duration_or_timeout() -> None:
    sent: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(201, json={"id": "r1", "name": "n", "status": "scheduled"})

    async def body() -> None:
        provider = make("https://api.example", httpx.MockTransport(handler))
        await provider.start(StartRequest("n", "k-1", {"job_id": "j", "duration": 600}))
        await provider.start(StartRequest("n", "k-2", {"job_id": "j", "duration": 600}, timeout=60))
        await provider.aclose()

    asyncio.run(body())
    spans = [
        (datetime.fromisoformat(s["endAt"]) - datetime.fromisoformat(s["startAt"])).total_seconds()
        for s in sent
    ]
    assert spans == [600, 60]
    assert sent[0]["name"] == "n [rk:k-1]"
    assert set(sent[0]) == {"jobId", "name", "startAt", "endAt"}


def test_an_occurrence_run_is_windowed_from_its_time_for_the_duration() -> None:
    """A scheduled spec's run: from the occurrence time, for the job's duration."""
    occurrence = datetime(2026, 12, 3, 1, tzinfo=UTC)
    spec = desired_run(
        JobRun.model_validate(
            {
                "apiVersion": "reconciler/v1",
                "kind": "JobRun",
                "metadata": {"name": "promo"},
                "spec": {
                    "provider": "campaigns",
                    "job": {"job_id": "j", "duration": "30m"},
                    "schedule": {"cron": "0 2 * * *", "timezone": "Europe/Berlin"},
                },
            }
        ),
        job={"job_id": "j", "duration": 1800},
        provider_type="vonage",
        file="specs/promo.yaml",
    ).for_occurrence(occurrence)
    call = make("https://api.example").start_call(
        start_request("promo", StartOrder(desired=spec, attempt=1), "k-1")
    )
    assert call.body is not None
    assert (call.body["startAt"], call.body["endAt"]) == (
        "2026-12-03T01:00:00.000Z",
        "2026-12-03T01:30:00.000Z",
    )


def test_summary_is_the_details_line(sandbox: BackgroundSandbox) -> None:
    async def body() -> str | None:
        provider = make(sandbox.url)
        run = await provider.start(StartRequest("n", "k-1", {"job_id": "j"}))
        advance(sandbox, 600)
        details = await provider.details(run.run_id)
        await provider.aclose()
        return details

    assert asyncio.run(body()) == "recipients 10, delivered 9, failed 1, responses 5"


def test_problem_message_prefers_detail_then_title() -> None:
    doc = {
        "type": "t",
        "title": "Bad Request",
        "detail": "endAt must be after startAt",
        "errors": ["x"],
    }
    assert problem_message(httpx.Response(400, json=doc)) == "endAt must be after startAt (x)"
    assert problem_message(httpx.Response(404, json={"title": "Gone"})) == "Gone"


def application_key() -> tuple[str, str]:
    """A fresh RSA key pair as (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


def with_application(url: str, application_id: str, private_pem: str) -> VonageProvider:
    references = {"application_id": "env:APP", "private_key": "file:app.key"}
    instance = PROVIDER.for_sandbox(
        ProviderInstance(type="vonage", base_url="https://x", credentials=references), url
    )
    values = {"application_id": application_id, "private_key": private_pem}
    return VonageProvider(ProviderContext("campaigns", instance, values))


def test_application_key_signs_jwts_the_sandbox_verifies() -> None:
    private, public = application_key()
    stranger, _ = application_key()
    seed = Seed(vonage=VonageSeed(applications={"app-1": public}))

    async def body(url: str) -> None:
        provider = with_application(url, "app-1", private)
        run = await provider.start(StartRequest("promo", "k-1", {"job_id": "job-1"}))
        assert [r.run_id for r in (await provider.list_runs(since=None)).runs] == [run.run_id]
        await provider.aclose()
        for application_id, key, reason in [
            ("app-1", stranger, "The JWT signature does not match the application's public key"),
            ("app-2", private, "The JWT is not valid for this application"),
        ]:
            impostor = with_application(url, application_id, key)
            with pytest.raises(AuthError) as refused:
                await impostor.list_runs(since=None)
            await impostor.aclose()
            assert (refused.value.status, refused.value.api_message) == (401, reason)

    with BackgroundSandbox(seed=seed) as server:
        asyncio.run(body(server.url))


def test_application_jwt_claims_and_renewal_before_expiry() -> None:
    private, public = application_key()
    now = [1_800_000_000.0]
    auth = ApplicationJwtAuth("campaigns (vonage)", "app-1", private, clock=lambda: now[0])
    first = auth.token()
    header, claims = (json.loads(b64url_decode(part)) for part in first.split(".")[:2])
    assert header == {"alg": "RS256", "typ": "JWT"}
    assert {k: claims[k] for k in ("application_id", "iat", "nbf", "exp")} == {
        "application_id": "app-1",
        "iat": 1_800_000_000,
        "nbf": 1_800_000_000,
        "exp": 1_800_000_900,
    }
    assert application_jwt_problem(first, {"app-1": public}, now[0] + 1) is None
    now[0] += 800  # still 100 s to go: kept
    assert auth.token() == first
    now[0] += 50  # under a minute left: a new one
    second = auth.token()
    assert second != first
    assert application_jwt_problem(first, {"app-1": public}, now[0] + 60) == "The JWT has expired"
    assert application_jwt_problem(second, {"app-1": public}, now[0] + 60) is None


def test_a_private_key_that_is_not_pem_is_refused_without_quoting_it() -> None:
    with pytest.raises(AuthError) as refused:
        ApplicationJwtAuth("campaigns (vonage)", "app-1", "not-a-key-SECRET-CANARY")
    assert str(refused.value) == (
        "campaigns (vonage): credentials.private_key is not an unencrypted PEM RSA private key"
    )
