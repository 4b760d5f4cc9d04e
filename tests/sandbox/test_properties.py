"""Property tests (issue 19): whatever is sent to an emulator, it never answers 5xx (no fault
injected), every error is in its API's own format, and afterwards every listing, and every
item listed, still answers. Each example is a fresh in-memory sandbox and a few requests, some
of which move the clock."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.sandbox.faults import Faults
from reconciler.sandbox.seed import Seed
from tests.sandbox.fuzz import (
    KNOWN,
    Request,
    Session,
    any_method,
    bodies,
    dates,
    digits,
    encoded,
    form,
    json_values,
    numbers,
    odd_text,
    requests,
    segment,
)
from tests.sandbox.inprocess import auth_headers, jwt, runner_token, sandbox_client

EXAMPLES = int(os.environ.get("SANDBOX_FUZZ_EXAMPLES", "100"))  # more for a long campaign
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
advances = st.floats(min_value=0, max_value=30 * 86400)
INJECTED = Faults(server_errors=0.2, rate_limited=0.1)
Step = Request | float  # a request, or seconds the clock moves


def steps(
    scenario: list[st.SearchStrategy[Request]], ops: st.SearchStrategy[Request]
) -> st.SearchStrategy[list[Step]]:
    """A scenario (create something with plausible but odd values, act on it, let time pass),
    then any requests, the clock moving between some."""
    story = st.tuples(*scenario, advances).map(list)
    more = st.lists(st.one_of(ops, ops, ops, advances), max_size=5)
    return st.builds(lambda first, then: [*first, *then], story, more)


def seeded() -> dict[str, Any]:
    """A seed that names everything (no auto mode): accounts and keys, users, jobs, pipelines,
    tokens, clients, an application's public key; some runs fail or time out."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return {
        "xplenty": {
            "accounts": {
                "acme": {
                    "api_keys": ["key"],
                    "clusters": [{"id": 1, "name": "c"}],
                    "packages": [{"id": 1, "name": "p"}, {"id": 2, "name": "q"}],
                }
            },
            "runs": {"packages": {2: {"running": 5, "outcome": "failed"}}},
        },
        "runner": {
            "users": {"u": {"password": "p", "account_alias": "SBOX"}},
            "jobs": [{"id": "job-1", "account_alias": "SBOX", "execution_ttl": 1}],
            "job_executions": {"job-1": {"running": 600}},
            "max_concurrent": 2,
        },
        "vonage": {
            "tokens": [jwt()],
            "applications": {"app": public.decode()},
            "jobs": {"job-1": {"outcome": "failed"}},
        },
        "matatika": {
            "tokens": ["token"],
            "clients": {"id": "secret"},
            "pipelines": [
                {"id": "p1", "workspace": "w"},
                {"id": "p2", "workspace": "w", "timeout": 10, "running": 60, "outcome": "ERROR"},
            ],
        },
    }


SEEDED = seeded()


def run(provider: str, prefix: str, plan: list[Step], mode: str, **kw: Any) -> Session:
    """The plan's steps, then (without faults) every listing; with faults, every 5xx must be
    one the sandbox says it injected."""
    faults = mode == "faults"
    config: dict[str, Any] = {"faults": {provider: INJECTED}} if faults else {}
    if mode == "seeded":
        config[provider] = SEEDED[provider]
    with sandbox_client(Seed.from_data(config)) as client:
        headers = auth_headers(client)[provider]
        s = Session(client, prefix, headers, faults=faults, seeded=mode == "seeded", **kw)
        for step in plan:
            if isinstance(step, Request):
                s.send(step)
            else:
                assert client.post("/_sandbox/clock", json={"advance": step}).status_code == 200
        if faults:
            injected = client.get("/_sandbox/faults").json().get(provider, {})
            retried = injected.get("server_errors", 0) - s.unavailable  # Runner logins
            assert retried >= 0
            assert provider == "runner" or retried == 0
        else:
            checks[provider](s)
        return s


# -- Xplenty -------------------------------------------------------------------------------

ids = st.one_of(st.integers(min_value=1, max_value=3), numbers, digits)
variables = st.dictionaries(odd_text, st.one_of(odd_text, json_values), max_size=3)
XPLENTY_JOB = {
    "cluster_id": ids,
    "package_id": ids,
    "variables": variables,
    "dynamic_variables": variables,
}
STATUSES = ["all", "idle", "pending", "running", "completed", "failed", "stopped"]
xplenty_ops = st.one_of(
    requests(
        "POST",
        ("jobs",),
        body=st.one_of(bodies(XPLENTY_JOB), bodies({"job": st.fixed_dictionaries(XPLENTY_JOB)})),
        content_type=st.sampled_from(["application/json", "text/plain", ""]),
    ),
    requests(
        "POST",
        ("jobs",),
        body=form(["job[cluster_id]", "job[package_id]", "job[variables][K]", "job[", "job[]"]),
        content_type=st.just("application/x-www-form-urlencoded"),
    ),
    requests(
        "GET",
        ("jobs",),
        query={
            "status": st.sampled_from(STATUSES) | odd_text,
            "sort": st.sampled_from(["created", "updated"]) | odd_text,
            "direction": st.sampled_from(["asc", "desc"]) | odd_text,
            "since": dates,
            "package_id": digits,
            "offset": digits,
            "limit": digits,
        },
    ),
    requests(
        st.sampled_from(["GET", "DELETE"]),
        ("jobs", segment("job")),
        query={"include": st.just("log_summary") | odd_text},
    ),
    requests("GET", ("jobs", segment("job"), st.sampled_from(["variables", "log"]))),
    requests(
        "GET",
        (st.sampled_from(["clusters", "packages"]),),
        query={"offset": digits, "limit": digits},
    ),
    requests("GET", (st.sampled_from(["clusters", "packages"]), segment("item"))),
    requests("GET", ("rate_limit_status",)),
    requests(any_method, (st.sampled_from(["jobs", "clusters", "x"]), segment("job"))),
)


def xplenty_ids(body: Any) -> list[tuple[str, str]]:
    items = body if isinstance(body, list) else [body]
    found = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("id"), int):
            found.append(("job" if "status" in item else "item", str(item["id"])))
    return found


def xplenty_listings(s: Session) -> None:
    for params in ({}, {"sort": "updated", "direction": "asc", "limit": "100", "status": "all"}):
        s.get("jobs", **params)
    for job in s.get("jobs", limit="100"):
        s.get("jobs", str(job["id"]))
        s.get("jobs", str(job["id"]), "variables")
    for noun in ("clusters", "packages"):
        for item in s.get(noun, limit="100"):
            s.get(noun, str(item["id"]))


# -- Runner --------------------------------------------------------------------------------

hosts = st.lists(
    st.fixed_dictionaries({"id": odd_text}, optional={"hostVars": json_values}), max_size=2
)
RUNNER_JOB = {
    "description": odd_text,
    "executionTtl": st.integers(min_value=1, max_value=600) | numbers,
    "repository": st.fixed_dictionaries(
        {"url": odd_text, "defaultPlaybook": odd_text},
        optional={"branch": odd_text, "credentials": json_values},
    ),
    "hosts": hosts,
    "callbacks": st.lists(st.fixed_dictionaries({"url": odd_text}), max_size=2),
    "properties": st.dictionaries(odd_text, json_values, max_size=2),
    "playbookTags": st.lists(odd_text, max_size=2),
    "sshPrivateKey": odd_text,
    "useDynamicInventory": st.booleans(),
}
immediate = {"immediate": st.sampled_from(["true", "false"]) | odd_text}
job_segment = segment("job", st.just("job-1"))
runner_ops = st.one_of(
    requests(
        "POST",
        ("v2", "authentication", "login"),
        body=st.one_of(
            bodies({"username": odd_text, "password": odd_text}), form(["username", "password"])
        ),
        content_type=st.sampled_from(["application/json", "application/x-www-form-urlencoded"]),
    ),
    requests(
        "POST", ("jobs", "SBOX"), query=immediate, body=bodies(RUNNER_JOB, {"playbook": odd_text})
    ),
    requests("GET", ("jobs", "SBOX"), query={"page": digits, "size": digits}),
    requests(st.sampled_from(["GET", "DELETE"]), ("jobs", "SBOX", job_segment)),
    requests(
        "PUT",
        ("jobs", "SBOX", job_segment),
        query=immediate,
        body=bodies(RUNNER_JOB, {"playbook": odd_text}),
    ),
    requests(
        "POST",
        ("jobs", "SBOX", job_segment, "start"),
        body=st.one_of(st.none(), bodies({"hosts": hosts, "sshPrivateKey": odd_text})),
    ),
    requests(
        "GET", ("jobs", "SBOX", job_segment, "executions"), query={"page": digits, "size": digits}
    ),
    requests("GET", ("jobs", "SBOX", job_segment, "executions", segment("execution"))),
    requests(
        "POST",
        (
            "jobs",
            "SBOX",
            job_segment,
            "executions",
            segment("execution"),
            st.sampled_from(["stop", "kill", "restart"]) | odd_text,
        ),
        body=st.one_of(st.none(), bodies({"expiryDuration": numbers})),
    ),
    requests(any_method, ("jobs", "SBOX", segment("job"), st.sampled_from(["start", "x"]))),
)


def runner_ids(body: Any) -> list[tuple[str, str]]:
    items = body if isinstance(body, list) else body.get("results", [body])
    found = []
    for item in items:
        if isinstance(item, dict) and "execution_id" in item:
            found += [("execution", item["execution_id"]), ("job", item["job_id"])]
        elif isinstance(item, dict) and isinstance(item.get("id"), str):
            found.append(("job", item["id"]))
    return found


def runner_listings(s: Session) -> None:
    s.headers = runner_token(s.client)  # the clock may have moved past the token's two weeks
    jobs = s.get("jobs", "SBOX", size="100")["results"]
    for job in jobs:
        s.get("jobs", "SBOX", job["id"])
        for execution in s.get("jobs", "SBOX", job["id"], "executions")["results"]:
            s.get("jobs", "SBOX", job["id"], "executions", execution["execution_id"])


# -- Vonage --------------------------------------------------------------------------------

VONAGE_RUN = {
    "jobId": st.just("job-1") | odd_text,
    "name": odd_text,
    "startAt": dates,
    "endAt": dates,
}
run_segment = segment("run")
vonage_ops = st.one_of(
    requests("POST", ("beta", "jobs", "runs"), body=bodies(VONAGE_RUN)),
    requests("GET", ("beta", "runs"), query={"page": digits, "page_size": digits}),
    *(
        requests(method, (*prefix, run_segment, *tail))
        for prefix in (("beta", "runs"), ("beta", "jobs", "runs"), ("runs",))
        for method, tail in (("GET", ()), ("POST", ("stop",)), ("GET", ("summary",)))
    ),
    requests(any_method, ("beta", st.sampled_from(["runs", "jobs"]), run_segment)),
    requests(
        "GET",
        ("beta", "runs"),
        headers={
            "Authorization": st.builds(lambda h, c: f"Bearer {jwt(h, c)}", json_values, json_values)
        },
    ),
)


def vonage_ids(body: Any) -> list[tuple[str, str]]:
    return [("run", body["id"])] if isinstance(body, dict) and "job_id" in body else []


def vonage_listings(s: Session) -> None:
    page = s.get("beta", "runs", page_size="1000")
    for run in page["_embedded"]["runs"]:
        s.get("beta", "runs", run["id"])
        s.get("beta", "jobs", "runs", run["id"], "summary")


# -- Matatika ------------------------------------------------------------------------------

pipeline_segment = segment("pipeline", st.sampled_from(["p1", "p2"]))
paging = {
    "page": digits,
    "size": digits,
    "sort": st.sampled_from(["created,asc", "created,desc"]) | odd_text,
}
matatika_ops = st.one_of(
    requests(
        "POST",
        (st.sampled_from(["pipelines", "pipeline"]), pipeline_segment, "jobs"),
        body=st.none() | bodies({}),
        headers={"enable-task-details": st.sampled_from(["true", "false", "TRUE", "x"])},
    ),
    requests("GET", ("pipelines", pipeline_segment, "jobs"), query=paging),
    requests(
        "GET", ("workspaces", st.sampled_from(["w", "auto"]) | odd_text, "jobs"), query=paging
    ),
    requests(st.sampled_from(["GET", "DELETE"]), ("jobs", segment("job"))),
    requests("PUT", ("jobs", segment("job"), "stopped")),
    requests(
        "GET",
        ("jobs", segment("job"), "logs"),
        query={"sequence": digits},
        headers={"Accept": st.sampled_from(["text/plain", "application/x-ndjson", "*/*"])},
    ),
    requests(
        "POST",
        ("oauth", "token"),
        body=st.one_of(
            bodies(
                {
                    "grant_type": st.just("client_credentials") | odd_text,
                    "client_id": odd_text,
                    "client_secret": odd_text,
                    "audience": odd_text,
                }
            ),
            form(["grant_type", "client_id", "client_secret"]),
        ),
        content_type=st.sampled_from(
            ["application/json", "application/x-www-form-urlencoded", "text/plain"]
        ),
    ),
    requests(any_method, (st.sampled_from(["jobs", "pipelines", "oauth"]), segment("job"))),
)


def matatika_ids(body: Any) -> list[tuple[str, str]]:
    jobs = (body.get("_embedded") or {}).get("jobs", [body]) if isinstance(body, dict) else []
    found = []
    for job in jobs:
        if isinstance(job, dict) and "status" in job:
            found += [("job", job["id"]), ("pipeline", job["_embedded"]["pipeline"]["id"])]
    return found


def matatika_errors(url: str) -> set[str]:
    # As the server sees it: the client resolves dot segments (``oauth/..`` is ``/api``).
    if "/oauth/" in httpx.URL(url).path:
        return {"error", "error_description"}
    return {"timestamp", "status", "error", "errors", "message", "path"}


def matatika_listings(s: Session) -> None:
    for pipeline in s.known.get("pipeline", []):
        for job in (
            s.get("pipelines", pipeline, "jobs", size="2000").get("_embedded", {}).get("jobs", [])
        ):
            s.get("jobs", job["id"])
            logs = s.client.get(f"{s.prefix}/jobs/{job['id']}/logs", headers=s.headers)
            assert logs.status_code in (200, 204), logs.text
    s.get("workspaces", "w" if s.seeded else "auto", "jobs")


checks = {
    "xplenty": xplenty_listings,
    "runner": runner_listings,
    "vonage": vonage_listings,
    "matatika": matatika_listings,
}
MESSAGE = {"message"}
SCENARIOS = {
    "xplenty": [
        requests("POST", ("jobs",), body=st.fixed_dictionaries(XPLENTY_JOB).map(encoded)),
        requests(st.sampled_from(["DELETE", "GET"]), ("jobs", KNOWN + "job")),
    ],
    "runner": [
        requests("POST", ("jobs", "SBOX"), body=st.fixed_dictionaries(RUNNER_JOB).map(encoded)),
        requests("POST", ("jobs", "SBOX", KNOWN + "job", "start"), body=st.just(b"{}")),
        requests(
            "PUT",
            ("jobs", "SBOX", KNOWN + "job"),
            body=st.fixed_dictionaries(RUNNER_JOB).map(encoded),
        ),
        requests("POST", ("jobs", "SBOX", KNOWN + "job", "start"), body=st.just(b"{}")),
        requests(
            "POST",
            ("jobs", "SBOX", KNOWN + "job", "executions", KNOWN + "execution"),
            body=st.fixed_dictionaries({"expiryDuration": numbers}).map(encoded),
        ).map(lambda r: replace(r, path=(*r.path, "stop"))),
    ],
    "vonage": [
        requests(
            "POST", ("beta", "jobs", "runs"), body=st.fixed_dictionaries(VONAGE_RUN).map(encoded)
        ),
        requests("POST", ("beta", "runs", KNOWN + "run", "stop")),
    ],
    "matatika": [
        requests("POST", ("pipelines", st.sampled_from(["p1", "p2"]) | odd_text, "jobs")),
        requests("PUT", ("jobs", KNOWN + "job", "stopped")),
        matatika_ops,
    ],
}
CASES = {
    "xplenty": ("/xplenty/acme/api", xplenty_ops, lambda url: MESSAGE, xplenty_ids),
    "runner": ("/runner", runner_ops, lambda url: MESSAGE, runner_ids),
    "vonage": ("/vonage", vonage_ops, lambda url: {"type", "title", "detail"}, vonage_ids),
    "matatika": ("/matatika/api", matatika_ops, matatika_errors, matatika_ids),
}


@pytest.mark.parametrize("mode", ["auto", "seeded", "faults"])
@pytest.mark.parametrize("provider", sorted(CASES))
def test_no_request_breaks_an_emulator(
    provider: str, mode: str, report_figure: Callable[[str], None]
) -> None:
    prefix, ops, error_keys, collect = CASES[provider]
    totals = [0, 0, 0]

    @settings(SETTINGS, max_examples=EXAMPLES if mode == "auto" else EXAMPLES // 2)
    @given(steps(SCENARIOS[provider], ops))
    def example(plan: list[Step]) -> None:
        session = run(provider, prefix, plan, mode, error_keys=error_keys, collect=collect)
        totals[0] += 1
        totals[1] += session.sent
        totals[2] += session.unavailable

    started = time.monotonic()
    example()
    injected = f", {totals[2]} injected 503s" if mode == "faults" else ""
    report_figure(
        f"sandbox properties, {provider} ({mode}): {totals[0]} examples, {totals[1]} "
        f"requests{injected}, {time.monotonic() - started:.1f} s"
    )
