"""The Matatika emulator: one job per pipeline, statuses on the clock, HAL pages, stop, delete,
logs, the pipeline timeout, and the seed-era status set."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from reconciler.sandbox.matatika.seed import MatatikaPipeline, MatatikaSeed
from reconciler.sandbox.seed import Seed
from reconciler.sandbox.server import BackgroundSandbox
from tests.conftest import advance


@pytest.fixture
def api(sandbox: BackgroundSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{sandbox.url}/matatika/api", headers={"Authorization": "Bearer t"}
    ) as c:
        yield c


def test_one_job_per_pipeline_and_status_sequence(
    api: httpx.Client, sandbox: BackgroundSandbox
) -> None:
    job = api.post("/pipelines/p1/jobs")
    assert job.status_code == 201
    body = job.json()
    assert (body["status"], body["type"], body["_embedded"]["pipeline"]["id"]) == (
        "QUEUED",
        "PIPELINE_RUN",
        "p1",
    )
    assert "T" in body["created"]
    assert not body["created"].endswith("Z")
    assert "+" not in body["created"]  # no zone
    busy = api.post("/pipelines/p1/jobs")
    assert busy.status_code == 409
    assert set(busy.json()) == {"timestamp", "status", "error", "errors", "message", "path"}
    advance(sandbox, 2)
    assert api.get(f"/jobs/{body['id']}").json()["status"] == "RUNNING"
    advance(sandbox, 60)
    done = api.get(f"/jobs/{body['id']}").json()
    assert (done["status"], done["exitCode"]) == ("COMPLETE", 0)
    assert api.post("/pipelines/p1/jobs").status_code == 201  # free again


def test_stop_only_running_jobs(api: httpx.Client, sandbox: BackgroundSandbox) -> None:
    job = api.post("/pipelines/p2/jobs").json()
    assert api.put(f"/jobs/{job['id']}/stopped").status_code == 409  # still QUEUED
    advance(sandbox, 2)
    assert api.put(f"/jobs/{job['id']}/stopped").status_code == 202
    advance(sandbox, 2)
    assert api.get(f"/jobs/{job['id']}").json()["status"] == "STOPPED"
    assert api.delete(f"/jobs/{job['id']}").status_code == 204
    assert api.get(f"/jobs/{job['id']}").status_code == 404


def test_collections_are_spring_hal_pages(api: httpx.Client, sandbox: BackgroundSandbox) -> None:
    for i in range(5):
        api.post(f"/pipelines/q{i}/jobs")
    page = api.get("/workspaces/any/jobs", params={"page": 1, "size": 2}).json()
    assert page["page"] == {"size": 2, "totalElements": 5, "totalPages": 3, "number": 1}
    assert len(page["_embedded"]["jobs"]) == 2
    assert "next" in page["_links"]
    assert api.get("/pipelines/q0/jobs").json()["page"]["totalElements"] == 1


def test_pipeline_timeout_stops_the_job_and_logs_stream() -> None:
    seed = Seed(
        matatika=MatatikaSeed(
            pipelines=[MatatikaPipeline(id="p", workspace="w", timeout=20, running=60)]
        )
    )
    with BackgroundSandbox(seed=seed) as server:
        api = httpx.Client(
            base_url=f"{server.url}/matatika/api", headers={"Authorization": "Bearer t"}
        )
        assert api.post("/pipelines/nope/jobs").status_code == 404
        job = api.post("/pipelines/p/jobs").json()
        advance(server, 30)
        assert api.get(f"/jobs/{job['id']}").json()["status"] == "STOPPED"
        text = api.get(f"/jobs/{job['id']}/logs").text.splitlines()
        assert text[0] == f"job {job['id']} queued"
        assert text[-1] == f"job {job['id']} stopped"
        ndjson = api.get(
            f"/jobs/{job['id']}/logs",
            params={"sequence": 1},
            headers={"Accept": "application/x-ndjson"},
        )
        assert ndjson.headers["content-type"].startswith("application/x-ndjson")
        assert api.get(f"/jobs/{job['id']}/logs", params={"sequence": 999}).status_code == 204
        api.close()


def test_seed_era_statuses_paths_and_task_details() -> None:
    with BackgroundSandbox(seed=Seed(matatika=MatatikaSeed(status_set="seed"))) as server:
        api = httpx.Client(
            base_url=f"{server.url}/matatika/api", headers={"Authorization": "Bearer t"}
        )
        job = api.post("/pipeline/p/jobs", headers={"enable-task-details": "true"}).json()
        assert (job["status"], job["taskName"]) == ("RUNNING", "meltano elt")
        assert api.get(f"/jobs/{job['id']}").json()["taskName"] is None
        assert api.put(f"/jobs/{job['id']}/stopped").status_code == 404
        assert api.delete(f"/jobs/{job['id']}").status_code == 204
        api.close()


def test_bearer_token_and_oauth_stub(sandbox: BackgroundSandbox) -> None:
    assert httpx.get(f"{sandbox.url}/matatika/api/jobs/x").status_code == 401
    token = httpx.post(
        f"{sandbox.url}/matatika/api/oauth/token",
        data={"client_id": "id", "client_secret": "s", "grant_type": "client_credentials"},
    ).json()
    assert token["token_type"] == "Bearer"
    assert token["access_token"].startswith("mt-")
