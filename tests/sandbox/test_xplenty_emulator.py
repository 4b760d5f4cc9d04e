"""The Xplenty emulator speaks the API as documented: statuses on the clock, filters, Link
pagination, errors as {"message": ...}, rate-limit headers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from reconciler.sandbox.seed import Seed
from reconciler.sandbox.server import BackgroundSandbox
from reconciler.sandbox.xplenty.seed import RunProfile, XplentyRuns, XplentySeed
from tests.conftest import advance

ACCEPT = {"Accept": "application/vnd.xplenty+json; version=2"}


@pytest.fixture
def api(sandbox: BackgroundSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{sandbox.url}/xplenty/acme/api", auth=("key", ""), headers=ACCEPT
    ) as client:
        yield client


def start(api: httpx.Client, package: int = 103, **variables: str) -> dict[str, object]:
    response = api.post(
        "/jobs", json={"cluster_id": 167, "package_id": package, "variables": variables}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_run_moves_through_real_statuses(api: httpx.Client, sandbox: BackgroundSandbox) -> None:
    job = start(api, START="'x'")
    assert (job["status"], job["started_at"], job["variables"]) == ("idle", None, {"START": "'x'"})
    seen = [job["status"]]
    for _ in range(4):
        advance(sandbox, 1.2)
        seen.append(api.get(f"/jobs/{job['id']}").json()["status"])
    advance(sandbox, 60)
    done = api.get(f"/jobs/{job['id']}").json()
    assert seen == ["idle", "pending", "pending", "running", "running"]
    assert (done["status"], done["progress"]) == ("completed", 1.0)
    assert done["completed_at"] is not None
    assert done["failed_at"] is None
    assert done["runtime_in_seconds"] == 30


def test_seeded_outcome_per_package() -> None:
    seed = Seed(
        xplenty=XplentySeed(runs=XplentyRuns(packages={7: RunProfile(running=5, outcome="failed")}))
    )
    with (
        BackgroundSandbox(seed=seed) as server,
        httpx.Client(base_url=f"{server.url}/xplenty/a/api", auth=("k", "")) as api,
    ):
        job = start(api, package=7)
        advance(server, 9)
        failed = api.get(f"/jobs/{job['id']}").json()
        assert (failed["status"], failed["failed_at"] is not None) == ("failed", True)
        assert api.delete(f"/jobs/{job['id']}").json() == {
            "message": "Job can't be stopped in status failed"
        }


def test_list_filters_and_link_pagination(api: httpx.Client, sandbox: BackgroundSandbox) -> None:
    ids = [start(api, package=103 if i % 2 else 104)["id"] for i in range(25)]
    page = api.get("/jobs", params={"limit": 10, "sort": "created", "direction": "asc"})
    assert [j["id"] for j in page.json()] == ids[:10]
    assert 'rel="next"' in page.headers["Link"]
    assert 'rel="prev"' not in page.headers["Link"]
    following = httpx.get(page.links["next"]["url"], auth=("key", ""))
    assert [j["id"] for j in following.json()] == ids[10:20]
    assert 'rel="prev"' in following.headers["Link"]
    default = api.get("/jobs").json()
    assert [j["id"] for j in default] == list(reversed(ids))[:20]  # newest first, 20 per page
    assert {
        j["package_id"] for j in api.get("/jobs", params={"package_id": 104, "limit": 100}).json()
    } == {104}
    advance(sandbox, 100)
    assert len(api.get("/jobs", params={"status": "completed", "limit": 100}).json()) == 25
    assert api.get("/jobs", params={"status": "running"}).json() == []
    assert api.get("/jobs", params={"since": "2999-01-01T00:00:00Z"}).json() == []
    assert api.get("/jobs", params={"limit": 101}).status_code == 400


def test_terminate_and_stop_sequence(api: httpx.Client, sandbox: BackgroundSandbox) -> None:
    job = start(api)
    assert api.delete(f"/jobs/{job['id']}").json()["status"] == "pending_stoppage"
    advance(sandbox, 1.5)
    assert api.get(f"/jobs/{job['id']}").json()["status"] == "stopping"
    advance(sandbox, 2)
    stopped = api.get(f"/jobs/{job['id']}").json()
    assert (stopped["status"], stopped["started_at"]) == ("stopped", None)
    assert api.delete(f"/jobs/{job['id']}").status_code == 422


def test_errors_auth_and_rate_headers(api: httpx.Client, sandbox: BackgroundSandbox) -> None:
    missing = api.get("/jobs/12345")
    assert (missing.status_code, missing.json()) == (404, {"message": "Item not found."})
    assert missing.headers["content-type"] == "application/vnd.xplenty+json; version=2"
    unauthenticated = httpx.get(f"{sandbox.url}/xplenty/acme/api/jobs")
    assert unauthenticated.status_code == 401
    assert set(unauthenticated.json()) == {"message"}
    first = api.get("/jobs")
    second = api.get("/jobs")
    assert first.headers["X-RateLimit-Limit"] == "5000"
    assert int(first.headers["X-RateLimit-Remaining"]) - 1 == int(
        second.headers["X-RateLimit-Remaining"]
    )
    status = api.get("/rate_limit_status").json()
    assert status == {
        "limits": {"limit": 5000, "remaining": int(second.headers["X-RateLimit-Remaining"])}
    }
    bad = api.post("/jobs", json={"package_id": 1})
    assert (bad.status_code, bad.json()) == (
        422,
        {"message": "cluster_id is missing or not an integer"},
    )


def test_rate_limit_answers_429_with_retry_after() -> None:
    with BackgroundSandbox(seed=Seed(xplenty=XplentySeed(rate_limit=1))) as server:
        url = f"{server.url}/xplenty/a/api/jobs"
        assert httpx.get(url, auth=("k", "")).status_code == 200
        limited = httpx.get(url, auth=("k", ""))
        assert (limited.status_code, limited.json()) == (429, {"message": "Rate Limit Exceeded"})
        assert int(limited.headers["Retry-After"]) > 0


def test_form_encoded_run_as_in_the_curl_example(api: httpx.Client) -> None:
    response = api.post(
        "/jobs",
        data={"job[cluster_id]": "167", "job[package_id]": "103", "job[variables][A]": "'1'"},
    )
    assert response.status_code == 201
    assert response.json()["variables"] == {"A": "'1'"}
    job_id = response.json()["id"]
    assert api.get(f"/jobs/{job_id}/variables").json() == {"A": "'1'"}
    assert "log_summary" in api.get(f"/jobs/{job_id}", params={"include": "log_summary"}).json()
    assert set(api.get(f"/jobs/{job_id}/log").json()) == {"body", "url"}
    assert [c["id"] for c in api.get("/clusters").json()] == [167]
    assert api.get("/packages/103").json()["id"] == 103


def test_strict_accept_answers_404_without_version_header() -> None:
    with BackgroundSandbox(seed=Seed(xplenty=XplentySeed(strict_accept=True))) as server:
        url = f"{server.url}/xplenty/a/api/jobs"
        assert httpx.get(url, auth=("k", "")).status_code == 404
        assert httpx.get(url, auth=("k", ""), headers=ACCEPT).status_code == 200


def test_date_header_follows_the_sandbox_clock(
    api: httpx.Client, sandbox: BackgroundSandbox
) -> None:
    before = httpx.Response(200, headers={"Date": api.get("/jobs").headers["Date"]})
    advance(sandbox, 86400 * 2)
    after = api.get("/jobs").headers["Date"]
    assert before.headers["Date"] != after
    assert len(api.get("/jobs").headers.get_list("date")) == 1


def test_seed_profiles_layer_over_the_built_in_defaults() -> None:
    runs = XplentyRuns(
        default=RunProfile(running=5, outcome="failed"),
        packages={7: RunProfile(idle=4)},
    )
    seed = XplentySeed(runs=runs)
    assert seed.profile(1) == RunProfile(idle=1, pending=2, running=5, outcome="failed")
    assert seed.profile(7) == RunProfile(idle=4, pending=2, running=5, outcome="failed")


def test_faults_drop_after_acting_and_slow_stops() -> None:
    from reconciler.sandbox.faults import Faults

    lost = Seed(faults={"xplenty": Faults(drops_after=1.0)})
    with BackgroundSandbox(seed=lost) as server:
        with pytest.raises(httpx.TransportError):
            httpx.post(
                f"{server.url}/xplenty/a/api/jobs",
                auth=("k", ""),
                json={"cluster_id": 1, "package_id": 2},
            )
        acted = server.store.query("SELECT COUNT(*) AS n FROM xplenty_jobs")[0]["n"]
        assert acted == 1  # the job exists; the client never saw the answer
    slow = Seed(faults={"xplenty": Faults(slow_stop=0.5)})
    with BackgroundSandbox(seed=slow) as server:
        api = httpx.Client(base_url=f"{server.url}/xplenty/a/api", auth=("k", ""))
        job = api.post("/jobs", json={"cluster_id": 1, "package_id": 2}).json()
        began = time.monotonic()
        assert api.get(f"/jobs/{job['id']}").status_code == 200
        assert time.monotonic() - began < 0.4
        began = time.monotonic()
        assert api.delete(f"/jobs/{job['id']}").status_code == 200
        assert time.monotonic() - began >= 0.5
        api.close()
