"""Vonage adapter specifics: key in the run name, window as startAt/endAt, the summary."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx

from reconciler.providers.base import ProviderContext, RunStatus, StartRequest
from reconciler.providers.vonage import PROVIDER
from reconciler.providers.vonage.client import VonageProvider, problem_message
from reconciler.sandbox.server import BackgroundSandbox
from reconciler.spec.models import ProviderInstance
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
