"""The Vonage emulator: time-driven run statuses, HAL pages, RFC 7807 errors, prefix aliases."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest

from reconciler.sandbox.seed import Seed
from reconciler.sandbox.server import BackgroundSandbox
from reconciler.sandbox.vonage.seed import VonageJob, VonageSeed
from tests.conftest import advance


def jwt(subject: str = "app") -> str:
    def part(data: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part({'application_id': subject})}.sig"


@pytest.fixture
def api(sandbox: BackgroundSandbox) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {jwt()}"}
    with httpx.Client(base_url=f"{sandbox.url}/vonage/beta", headers=headers) as client:
        yield client


def schedule(
    api: httpx.Client, start: str, end: str, name: str = "Pizza Campaign"
) -> dict[str, str]:
    body = {"jobId": "job-1", "name": name, "startAt": start, "endAt": end}
    response = api.post("/jobs/runs", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def now_iso(sandbox: BackgroundSandbox, offset: float = 0) -> str:
    from reconciler.sandbox.vonage.model import iso

    return iso(httpx.get(f"{sandbox.url}/_sandbox/clock").json()["now"] + offset)


def test_run_is_scheduled_running_then_completed(
    api: httpx.Client, sandbox: BackgroundSandbox
) -> None:
    run = schedule(api, now_iso(sandbox, 10), now_iso(sandbox, 70))
    assert set(run) == {
        "id",
        "job_id",
        "name",
        "status",
        "start_at",
        "end_at",
        "created_at",
        "updated_at",
    }
    assert (run["status"], run["job_id"], run["name"]) == ("scheduled", "job-1", "Pizza Campaign")
    advance(sandbox, 15)
    assert api.get(f"/runs/{run['id']}").json()["status"] == "running"
    advance(sandbox, 60)
    assert api.get(f"/runs/{run['id']}").json()["status"] == "completed"


def test_stop_and_stop_again(api: httpx.Client, sandbox: BackgroundSandbox) -> None:
    run = schedule(api, now_iso(sandbox), now_iso(sandbox, 600))
    stopped = api.post(f"/runs/{run['id']}/stop")
    assert (stopped.status_code, stopped.json()["status"]) == (200, "stopped")
    again = api.post(f"/runs/{run['id']}/stop")
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["detail"] == f"Run {run['id']} has already ended (status stopped)"


def test_list_is_a_hal_page_with_links(api: httpx.Client, sandbox: BackgroundSandbox) -> None:
    ids = [schedule(api, now_iso(sandbox), now_iso(sandbox, 60))["id"] for _ in range(5)]
    page = api.get("/runs", params={"page": 2, "page_size": 2}).json()
    assert (page["total_items"], page["total_pages"], page["page"], page["page_size"]) == (
        5,
        3,
        2,
        2,
    )
    assert [r["id"] for r in page["_embedded"]["runs"]] == ids[2:4]
    assert set(page["_links"]) == {"self", "first", "last", "prev", "next"}
    assert api.get("/runs/").json()["total_items"] == 5


def test_documented_prefixes_are_all_served(api: httpx.Client, sandbox: BackgroundSandbox) -> None:
    run = schedule(api, now_iso(sandbox), now_iso(sandbox, 600))
    for url in (f"/beta/jobs/runs/{run['id']}", f"/runs/{run['id']}"):
        assert (
            httpx.get(f"{sandbox.url}/vonage{url}", headers=api.headers).json()["id"] == run["id"]
        )
    advance(sandbox, 180)
    summary = api.get(f"/jobs/runs/{run['id']}/summary").json()
    assert summary["_embedded"]["action_delivery_status"]["recipients_count"] == 3
    assert summary["_embedded"]["recipient_response"]["job_run_id"] == run["id"]


def test_errors_are_rfc7807(api: httpx.Client, sandbox: BackgroundSandbox) -> None:
    missing = api.get("/runs/nope")
    assert missing.status_code == 404
    assert missing.json()["title"] == "The requested resource does not exist"
    assert set(missing.json()) == {"type", "title", "detail", "instance"}
    bad = api.post(
        "/jobs/runs",
        json={
            "jobId": "j",
            "name": "n",
            "startAt": "2026-01-02T00:00:00Z",
            "endAt": "2026-01-01T00:00:00Z",
        },
    )
    assert (bad.status_code, bad.json()["errors"]) == (400, ["endAt must be after startAt"])
    assert (
        httpx.get(
            f"{sandbox.url}/vonage/beta/runs", headers={"Authorization": "Bearer not-a-jwt"}
        ).status_code
        == 401
    )


def test_seeded_tokens_jobs_and_outcomes() -> None:
    seed = Seed(
        vonage=VonageSeed(tokens=[jwt("good")], jobs={"job-f": VonageJob(outcome="failed")})
    )
    with BackgroundSandbox(seed=seed) as server:
        base = f"{server.url}/vonage/beta"
        assert (
            httpx.get(
                f"{base}/runs", headers={"Authorization": f"Bearer {jwt('other')}"}
            ).status_code
            == 401
        )
        client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {jwt('good')}"})
        body = {"name": "n", "startAt": now_iso(server), "endAt": now_iso(server, 5)}
        assert client.post("/jobs/runs", json={**body, "jobId": "job-x"}).status_code == 404
        run = client.post("/jobs/runs", json={**body, "jobId": "job-f"}).json()
        advance(server, 10)
        assert client.get(f"/runs/{run['id']}").json()["status"] == "failed"
        client.close()
