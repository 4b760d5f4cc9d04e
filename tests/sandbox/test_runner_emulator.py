"""The Runner emulator: login, execution statuses on the clock, the concurrency cap, TTL, stop,
kill and restart."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.sandbox.runner.model import replay
from reconciler.sandbox.runner.seed import ExecutionProfile, RunnerJob, RunnerSeed
from reconciler.sandbox.seed import Seed
from reconciler.sandbox.server import BackgroundSandbox
from tests.conftest import advance

JOB = "1111505e-6773-494a-b2bf-d2cc2684710d"


def login(server: BackgroundSandbox, user: str = "ops", password: str = "pw") -> httpx.Response:
    return httpx.post(
        f"{server.url}/runner/v2/authentication/login",
        json={"username": user, "password": password},
    )


def client(server: BackgroundSandbox) -> httpx.Client:
    token = login(server).json()["bearerToken"]
    return httpx.Client(
        base_url=f"{server.url}/runner/jobs/ACME", headers={"Authorization": f"Bearer {token}"}
    )


@pytest.fixture
def api(sandbox: BackgroundSandbox) -> Iterator[httpx.Client]:
    with client(sandbox) as c:
        yield c


def start(api: httpx.Client, job: str = JOB) -> dict[str, object]:
    response = api.post(f"/{job}/start", json={"hosts": [{"id": "localhost"}]})
    assert response.status_code == 200, response.text
    return dict(response.json())


def status(api: httpx.Client, execution: dict[str, object], job: str = JOB) -> str:
    return str(api.get(f"/{job}/executions/{execution['execution_id']}").json()["status"])


def test_login_answers_like_clc_v2(sandbox: BackgroundSandbox) -> None:
    body = login(sandbox).json()
    assert set(body) == {"userName", "accountAlias", "locationAlias", "roles", "bearerToken"}
    assert login(sandbox, password="").status_code == 400
    assert httpx.get(f"{sandbox.url}/runner/jobs/ACME").status_code == 401


def test_execution_moves_through_statuses_with_ms_timers(
    api: httpx.Client, sandbox: BackgroundSandbox
) -> None:
    execution = start(api)
    assert (execution["status"], execution["start"], execution["end"]) == ("PENDING", None, None)
    assert set(execution) >= {
        "execution_id",
        "job_id",
        "account_alias",
        "timers",
        "failed_hosts",
        "is_vpn_established",
    }
    seen = [status(api, execution)]
    for step in (1.5, 2, 40):  # queued 1s, initializing 2s, running 30s
        advance(sandbox, step)
        seen.append(status(api, execution))
    assert seen == ["PENDING", "INITIALIZING", "RUNNING", "SUCCESS"]
    done = api.get(f"/{JOB}/executions/{execution['execution_id']}").json()
    assert isinstance(done["start"], int)
    assert done["start"] > 10**12  # epoch milliseconds
    assert done["end"] - done["start"] == 32_000
    assert done["timers"] == [{"start": done["start"], "end": done["end"]}]


def test_only_four_executions_run_at_once(api: httpx.Client, sandbox: BackgroundSandbox) -> None:
    executions = [start(api) for _ in range(6)]
    advance(sandbox, 5)
    assert [status(api, e) for e in executions] == ["RUNNING"] * 4 + ["PENDING"] * 2
    api.post(f"/{JOB}/executions/{executions[0]['execution_id']}/stop", json={})
    advance(sandbox, 3)
    assert [status(api, e) for e in executions] == ["STOPPED"] + ["RUNNING"] * 3 + [
        "INITIALIZING",
        "PENDING",
    ]


def test_executions_list_is_paged_newest_first(api: httpx.Client) -> None:
    ids = [start(api)["execution_id"] for _ in range(5)]
    page = api.get(f"/{JOB}/executions", params={"page": 1, "size": 2}).json()
    assert (page["totalSize"], page["page"], page["size"]) == (5, 1, 2)
    assert [e["execution_id"] for e in page["results"]] == list(reversed(ids))[2:4]
    assert api.get(f"/{JOB}/executions", params={"size": 101}).status_code == 400


def test_kill_and_stop_rules(api: httpx.Client, sandbox: BackgroundSandbox) -> None:
    execution = start(api)
    advance(sandbox, 3)
    killed = api.post(f"/{JOB}/executions/{execution['execution_id']}/kill", json={})
    assert killed.json()["status"] == "KILLING"
    advance(sandbox, 2)
    assert status(api, execution) == "KILLED"
    again = api.post(f"/{JOB}/executions/{execution['execution_id']}/stop", json={})
    assert (again.status_code, again.json()) == (
        400,
        {"message": f"Cannot stop execution {execution['execution_id']} in status KILLED"},
    )


def test_execution_ttl_stops_gracefully_and_restart_needs_a_failure() -> None:
    seed = Seed(
        runner=RunnerSeed(
            jobs=[
                RunnerJob(id="j-ttl", account_alias="SBOX", execution_ttl=1),
                RunnerJob(id="j-fail", account_alias="SBOX"),
            ],
            job_executions={
                "j-ttl": ExecutionProfile(running=600),
                "j-fail": ExecutionProfile(outcome="FAILURE"),
            },
        )
    )
    with BackgroundSandbox(seed=seed) as server:
        token = login(server).json()["bearerToken"]
        api = httpx.Client(
            base_url=f"{server.url}/runner/jobs/SBOX", headers={"Authorization": f"Bearer {token}"}
        )
        long_one = start(api, "j-ttl")
        failing = start(api, "j-fail")
        assert api.post("/unknown/start", json={}).status_code == 404
        advance(server, 120)
        assert status(api, long_one, "j-ttl") == "STOPPED"  # executionTtl of 1 minute
        assert status(api, failing, "j-fail") == "FAILURE"
        path = f"/j-fail/executions/{failing['execution_id']}/restart"
        assert api.post(path, json={}).json()["status"] == "PENDING"
        advance(server, 60)
        restarted = api.get(f"/j-fail/executions/{failing['execution_id']}").json()
        assert (restarted["status"], len(restarted["timers"])) == ("SUCCESS", 2)
        assert api.post(path, json={}).status_code == 400
        api.close()


PLAYBOOK = {
    "repository": {"url": "https://github.com/acme/plays.git", "defaultPlaybook": "site.yml"},
    "hosts": [{"id": "localhost"}],
}


def test_job_definitions_crud(api: httpx.Client) -> None:
    created = api.post(
        "", json={**PLAYBOOK, "description": "patch", "executionTtl": 30, "properties": {"a": 1}}
    )
    assert created.status_code == 201
    job = created.json()[0]  # documented as a list
    assert (job["status"], job["executionTtl"], job["properties"]) == ("ACTIVE", 30, {"a": 1})
    updated = api.put(f"/{job['id']}", json={**PLAYBOOK, "description": "new"}).json()
    assert (updated["description"], updated["properties"]) == ("new", {})  # a whole rewrite
    assert api.get("", params={"size": 10}).json()["totalSize"] == 1
    assert api.delete(f"/{job['id']}").status_code == 204
    assert api.get(f"/{job['id']}").status_code == 404


def test_two_sandboxes_on_one_state_file_see_each_others_starts_and_stops(
    tmp_path: Path,
) -> None:
    """A job's listing replays the account's queue from a cache kept until a write: a start or
    a stop made through another process on the same state file is seen at once."""
    state = tmp_path / "sandbox.db"
    with (
        BackgroundSandbox(seed=Seed(), state=state) as first,
        BackgroundSandbox(seed=Seed(), state=state) as second,
        client(first) as one,
        client(second) as other,
    ):
        assert other.get(f"/{JOB}/executions").json()["results"] == []  # cached: none
        made = start(one)
        listed = other.get(f"/{JOB}/executions").json()["results"]
        assert [e["execution_id"] for e in listed] == [made["execution_id"]]
        assert one.post(f"/{JOB}/executions/{made['execution_id']}/stop").status_code == 200
        assert status(other, made) in ("STOPPING", "STOPPED")


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 30),  # created after the one before
            st.sampled_from(["SUCCESS", "FAILURE", "INIT_FAILURE"]),
            st.one_of(st.none(), st.floats(0, 40)),  # a stop this long after its creation
            st.sampled_from(["stop", "kill"]),
        ),
        max_size=14,
    ),
    st.integers(0, 14),
)
def test_attempts_added_later_replay_as_a_whole_replay_would(
    attempts: list[tuple[float, str, float | None, str]], split: int
) -> None:
    """The cache replays only the attempts added since (``Replay.extended``): the queue must
    come out as replaying every attempt again would."""
    db = sqlite3.connect(":memory:")
    db.row_factory = sqlite3.Row
    db.execute(
        "CREATE TABLE a (seq INTEGER, created REAL, t_init REAL, t_running REAL, outcome TEXT, "
        "ttl REAL, stop_at REAL, stop_kind TEXT, stop_expiry REAL)"
    )
    created = 0.0
    for seq, (gap, outcome, stop_after, kind) in enumerate(attempts, 1):
        created += gap
        stop_at = None if stop_after is None else created + stop_after
        db.execute(
            "INSERT INTO a VALUES (?, ?, 3, 20, ?, 60, ?, ?, NULL)",
            (seq, created, outcome, stop_at, kind if stop_at is not None else None),
        )
    rows = db.execute("SELECT * FROM a ORDER BY seq").fetchall()
    seed = RunnerSeed(max_concurrent=2)
    whole = replay(rows, seed)
    stepwise = replay(rows[:split], seed).extended(rows[split:], seed)
    assert stepwise is not None
    assert stepwise == whole
    if split < len(rows) and split > 0 and rows[split]["created"] > rows[0]["created"]:
        assert replay(rows[split:], seed).extended(rows[:1], seed) is None  # out of order
