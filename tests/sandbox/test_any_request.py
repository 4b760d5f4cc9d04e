"""Issue 19: odd but legal requests answer as the real APIs do, in their own error formats, and
nothing an emulator accepts breaks a later request."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from reconciler.sandbox.matatika.seed import MatatikaPipeline, MatatikaSeed
from reconciler.sandbox.runner.seed import ExecutionProfile, RunnerSeed
from reconciler.sandbox.seed import Seed
from tests.sandbox.inprocess import (
    MATATIKA,
    RUNNER,
    VONAGE,
    XPLENTY,
    SandboxClient,
    auth_headers,
    jwt,
    sandbox_client,
)

BIG = 2**63  # one past the largest 64-bit id
PLAYBOOK = {
    "repository": {"url": "https://github.com/acme/plays.git", "defaultPlaybook": "site.yml"},
    "hosts": [{"id": "localhost"}],
}


@pytest.fixture
def api() -> Iterator[SandboxClient]:
    with sandbox_client() as client:
        yield client


def advance(api: SandboxClient, seconds: float) -> None:
    assert api.post("/_sandbox/clock", json={"advance": seconds}).status_code == 200


# -- Xplenty -------------------------------------------------------------------------------


def test_xplenty_ids_beyond_64_bits_name_nothing(api: SandboxClient) -> None:
    h = auth_headers(api)["xplenty"]
    for body in ({"cluster_id": BIG, "package_id": 1}, {"cluster_id": 1, "package_id": 2**70}):
        response = api.post(f"{XPLENTY}/jobs", json=body, headers=h)
        assert response.status_code == 422
        assert response.json()["message"].endswith("does not exist")
    for path in ("jobs", "jobs/{}/variables", "jobs/{}/log", "clusters", "packages"):
        url = f"{XPLENTY}/{path.format(BIG) if '{}' in path else f'{path}/{BIG}'}"
        assert (api.get(url, headers=h).status_code, api.get(url, headers=h).json()) == (
            404,
            {"message": "Item not found."},
        )
    assert api.delete(f"{XPLENTY}/jobs/{BIG}", headers=h).status_code == 404
    listed = api.get(f"{XPLENTY}/jobs", params={"package_id": str(BIG)}, headers=h)
    assert (listed.status_code, listed.json()) == (200, [])


def test_xplenty_lone_surrogate_is_refused_and_listings_still_answer(api: SandboxClient) -> None:
    h = {**auth_headers(api)["xplenty"], "Content-Type": "application/json"}
    raw = '{"cluster_id": 1, "package_id": 2, "variables": {"K": "\\ud800"}}'
    response = api.post(f"{XPLENTY}/jobs", content=raw, headers=h)
    assert (response.status_code, response.json()["message"]) == (
        400,
        "Request body is not valid JSON: unpaired surrogate",
    )
    for bad in ('{"cluster_id": NaN, "package_id": 1}', '{"cluster_id": 1e999, "package_id": 1}'):
        assert api.post(f"{XPLENTY}/jobs", content=bad, headers=h).status_code == 400
    assert (
        api.post(
            f"{XPLENTY}/jobs", json={"cluster_id": 1.5, "package_id": 2}, headers=h
        ).status_code
        == 422
    )
    assert api.get(f"{XPLENTY}/jobs", headers=h).status_code == 200


# -- Runner --------------------------------------------------------------------------------


def test_runner_execution_ttl_is_a_java_int_on_create_and_update() -> None:
    with sandbox_client(Seed(runner=RunnerSeed(executions=ExecutionProfile(running=3600)))) as api:
        ttl_checks(api)


def ttl_checks(api: SandboxClient) -> None:
    h = auth_headers(api)["runner"]
    for ttl in (10**20, 1e20, "abc", 0, True):
        response = api.post(RUNNER, json={**PLAYBOOK, "executionTtl": ttl}, headers=h)
        assert response.status_code == 400, ttl
        assert "executionTtl" in response.json()["message"]
    job = api.post(RUNNER, json={**PLAYBOOK, "executionTtl": 5}, headers=h).json()[0]
    response = api.put(f"{RUNNER}/{job['id']}", json={**PLAYBOOK, "executionTtl": "abc"}, headers=h)
    assert response.status_code == 400
    assert api.post(f"{RUNNER}/{job['id']}/start", json={}, headers=h).status_code == 200
    advance(api, 600)
    assert api.get(RUNNER, headers=h).json()["results"][0]["executionTtl"] == 5
    executions = api.get(f"{RUNNER}/{job['id']}/executions", headers=h).json()["results"]
    assert [e["status"] for e in executions] == ["STOPPED"]  # after 5 minutes


def test_runner_job_definition_needs_its_playbook_and_hosts(api: SandboxClient) -> None:
    h = auth_headers(api)["runner"]
    for body in (
        {"description": "no playbook"},
        {"repository": PLAYBOOK["repository"]},  # no hosts
        {"hosts": [{"id": "h"}]},  # no playbook
        {**PLAYBOOK, "playbook": "LS0tCg=="},  # both
        {**PLAYBOOK, "hosts": [{"name": "h"}]},
        {**PLAYBOOK, "callbacks": ["https://hook"]},
    ):
        assert api.post(RUNNER, json=body, headers=h).status_code == 400, body
    inline = {"playbook": "LS0tCg==", "hosts": []}
    assert api.post(RUNNER, json=inline, headers=h).status_code == 201


def test_runner_login_takes_a_form_as_the_sdk_sends_it(api: SandboxClient) -> None:
    form = api.post("/runner/v2/authentication/login", data={"username": "u", "password": "p"})
    assert (form.status_code, form.json()["userName"]) == (200, "u")
    bad = api.post(
        "/runner/v2/authentication/login",
        content="{not json",
        headers={"Content-Type": "application/json"},
    )
    assert (bad.status_code, bad.json()) == (400, {"message": "Request body is not valid JSON"})


def test_runner_stop_is_stopping_at_once_and_ends_after_the_expiry(api: SandboxClient) -> None:
    h = auth_headers(api)["runner"]
    execution = api.post(f"{RUNNER}/job-1/start", json={}, headers=h).json()
    advance(api, 4)
    stop = f"{RUNNER}/job-1/executions/{execution['execution_id']}/stop"
    assert api.post(stop, json={"expiryDuration": "soon"}, headers=h).status_code == 400
    assert api.post(stop, json={"expiryDuration": -1}, headers=h).status_code == 400
    stopping = api.post(stop, json={"expiryDuration": 20}, headers=h).json()
    assert stopping["status"] == "STOPPING"
    advance(api, 10)
    listing = f"{RUNNER}/job-1/executions"
    assert api.get(listing, headers=h).json()["results"][0]["status"] == "STOPPING"
    advance(api, 11)
    assert api.get(listing, headers=h).json()["results"][0]["status"] == "STOPPED"


def test_runner_a_repeated_kill_keeps_the_first_ones_timing(api: SandboxClient) -> None:
    h = auth_headers(api)["runner"]
    execution = api.post(f"{RUNNER}/job-1/start", json={}, headers=h).json()
    advance(api, 4)
    kill = f"{RUNNER}/job-1/executions/{execution['execution_id']}/kill"
    assert api.post(kill, json={"expiryDuration": 10}, headers=h).json()["status"] == "KILLING"
    advance(api, 6)
    assert api.post(kill, json={"expiryDuration": 10}, headers=h).json()["status"] == "KILLING"
    advance(api, 5)
    listing = api.get(f"{RUNNER}/job-1/executions", headers=h).json()["results"]
    assert listing[0]["status"] == "KILLED"


# -- Vonage --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("0001-01-01T00:00:00+14:00", "2026-01-01T00:00:00Z"),  # year 0 in UTC
        ("2026-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00"),  # year 10000 in UTC
        ("2026-01-01T00:00:00", "2026-01-02T00:00:00Z"),  # no zone
    ],
)
def test_vonage_instants_outside_years_1_to_9999_are_refused(
    api: SandboxClient, start: str, end: str
) -> None:
    h = auth_headers(api)["vonage"]
    body = {"jobId": "j", "name": "n", "startAt": start, "endAt": end}
    response = api.post(f"{VONAGE}/jobs/runs", json=body, headers=h)
    assert response.status_code == 400
    assert response.json()["type"] == "https://developer.vonage.com/en/api-errors"
    assert api.get(f"{VONAGE}/runs", headers=h).status_code == 200


def test_vonage_year_one_has_four_digits(api: SandboxClient) -> None:
    h = auth_headers(api)["vonage"]
    body = {"jobId": "j", "name": "n", "startAt": "0001-01-01T00:00:00Z"}
    run = api.post(
        f"{VONAGE}/jobs/runs", json={**body, "endAt": "0001-01-01T10:00:00.5Z"}, headers=h
    ).json()
    assert (run["start_at"], run["end_at"]) == (
        "0001-01-01T00:00:00.000Z",
        "0001-01-01T10:00:00.500Z",
    )
    listed = api.get(f"{VONAGE}/runs", headers=h).json()["_embedded"]["runs"]
    assert listed[0]["status"] == "completed"


@pytest.mark.parametrize(
    "token",
    [jwt(header=["RS256"]), jwt(claims=[1, 2]), jwt(header="x"), "a.b.c", "x"],
)
def test_vonage_jwt_header_and_claims_are_objects(api: SandboxClient, token: str) -> None:
    response = api.get(f"{VONAGE}/runs", headers={"Authorization": f"Bearer {token}"})
    assert (response.status_code, response.json()["title"]) == (401, "Unauthorized")


# -- Matatika ------------------------------------------------------------------------------


def test_matatika_token_endpoint_reads_json_by_content_type(api: SandboxClient) -> None:
    url = f"{MATATIKA}/oauth/token"
    grant = {"grant_type": "client_credentials", "client_id": "a=b", "client_secret": "c=d&e"}
    assert api.post(url, json=grant).json()["token_type"] == "Bearer"
    assert api.post(url, data=grant).json()["token_type"] == "Bearer"
    bad = api.post(url, content="{", headers={"Content-Type": "application/json"})
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_request")
    wrong = api.post(url, json={**grant, "grant_type": "password"})
    assert (wrong.status_code, wrong.json()["error"]) == (400, "unsupported_grant_type")
    assert api.get(url).json()["error"] == "invalid_request"  # 405, still OAuth's format


def test_matatika_unknown_workspace_is_404_and_empty_pages_are_zero() -> None:
    seed = Seed(matatika=MatatikaSeed(pipelines=[MatatikaPipeline(id="p", workspace="w")]))
    with sandbox_client(seed) as api:
        h = auth_headers(api)["matatika"]
        missing = api.get(f"{MATATIKA}/workspaces/elsewhere/jobs", headers=h)
        assert (missing.status_code, missing.json()["error"]) == (404, "Not Found")
        empty = api.get(f"{MATATIKA}/workspaces/w/jobs", headers=h).json()
        assert empty["page"] == {"size": 20, "totalElements": 0, "totalPages": 0, "number": 0}
        odd = api.get(f"{MATATIKA}/pipelines/p/jobs?page=-3&size=99999999999", headers=h).json()
        assert odd["page"] == {"size": 20, "totalElements": 0, "totalPages": 0, "number": 0}


# -- every emulator ------------------------------------------------------------------------

FORMATS = {  # an error body's keys, by API
    "xplenty": {"message"},
    "runner": {"message"},
    "vonage": {"type", "title", "detail", "instance"},
    "matatika": {"timestamp", "status", "error", "errors", "message", "path"},
}
ROUTES = {  # (an unknown route, a known route with a method it does not take)
    "xplenty": (f"{XPLENTY}/jobz", ("PUT", f"{XPLENTY}/jobs")),
    "runner": (f"{RUNNER}/j/executions/e/stop/now", ("DELETE", f"{RUNNER}/j/start")),
    "vonage": (f"{VONAGE}/runz", ("DELETE", f"{VONAGE}/runs")),
    "matatika": (f"{MATATIKA}/jobz", ("POST", f"{MATATIKA}/jobs/x")),
}


@pytest.mark.parametrize("provider", sorted(FORMATS))
def test_unknown_routes_and_methods_answer_in_the_api_format(
    api: SandboxClient, provider: str
) -> None:
    headers = auth_headers(api)[provider]
    unknown, (method, path) = ROUTES[provider]
    missing = api.get(unknown, headers=headers)
    refused = api.request(method, path, headers=headers)
    assert (missing.status_code, refused.status_code) == (404, 405)
    for response in (missing, refused):
        assert set(json.loads(response.text)) == FORMATS[provider]
    assert method not in refused.headers["allow"]


def test_clock_control_refuses_what_it_cannot_read(api: SandboxClient) -> None:
    for body in ("{", '{"advance": "x"}', '{"advance": 1e400}', "[]"):
        assert api.post("/_sandbox/clock", content=body).status_code == 400
