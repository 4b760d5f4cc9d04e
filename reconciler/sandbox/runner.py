"""CenturyLink Cloud Runner emulator: the CLC v2 login and the Runner jobs API, under ``/runner``.

Executions move PENDING -> INITIALIZING -> RUNNING -> SUCCESS | FAILURE (or INIT_FAILURE) on the
sandbox clock; stop moves them STOPPING -> STOPPED, kill KILLING -> KILLED, and a job's
``executionTtl`` stops them gracefully. At most ``max_concurrent`` executions of an account are
active; the others wait in PENDING. Statuses are derived by replaying the account's executions
in creation order through its slots, so they are a pure function of the stored data and time.
"""

from __future__ import annotations

import heapq
import json
import math
import sqlite3
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from reconciler.sandbox.common import (
    INT32_MAX,
    ApiProblem,
    HourlyRate,
    bearer_token,
    is_int,
    parse_json,
)
from reconciler.sandbox.seed import ExecutionProfile, RunnerSeed
from reconciler.sandbox.store import Store

ACTIVE = frozenset({"PENDING", "INITIALIZING", "RUNNING", "STOPPING", "KILLING"})


@dataclass
class Attempt:
    """One timer of an execution: its phases as (time, status) steps."""

    steps: list[tuple[float, str]] = field(default_factory=list)
    begin: float | None = None  # when it got a slot
    end: float | None = None  # when it reached a terminal status

    def at(self, now: float) -> tuple[str, float | None, float | None]:
        reached = [s for s in self.steps if s[0] <= now] or self.steps[:1]
        status = reached[-1][1]
        began = self.begin if self.begin is not None and self.begin <= now else None
        ended = self.end if self.end is not None and self.end <= now else None
        return status, began, ended


def replay(rows: list[sqlite3.Row], seed: RunnerSeed) -> dict[int, Attempt]:
    """Every attempt of one account, through its ``max_concurrent`` slots, in creation order."""
    slots = [0.0] * seed.max_concurrent
    heapq.heapify(slots)
    result: dict[int, Attempt] = {}
    for row in sorted(rows, key=lambda r: (r["created"], r["seq"])):
        created, stop_at, kind = row["created"], row["stop_at"], row["stop_kind"] or "stop"
        begin = max(created + seed.queued, slots[0])
        halt = ("STOPPING", "STOPPED") if kind == "stop" else ("KILLING", "KILLED")
        # The signal's expiryDuration is how long the execution may take to end (KB).
        pause = max(seed.stopping if kind == "stop" else seed.killing, row["stop_expiry"] or 0)
        attempt = Attempt(steps=[(created, "PENDING")])
        if stop_at is not None and stop_at < begin:  # stopped while waiting for a slot
            attempt.steps += [(stop_at, halt[0]), (stop_at + pause, halt[1])]
            attempt.end = stop_at + pause
            result[row["seq"]] = attempt
            continue
        heapq.heappop(slots)
        attempt.begin = begin
        ready = begin + row["t_init"]
        attempt.steps.append((begin, "INITIALIZING"))
        if row["outcome"] == "INIT_FAILURE":
            finish, outcome = ready, "INIT_FAILURE"
        else:
            attempt.steps.append((ready, "RUNNING"))
            finish, outcome = ready + row["t_running"], row["outcome"]
        ttl_stop = begin + row["ttl"]
        halt_at = min(x for x in (stop_at, ttl_stop) if x is not None)
        if halt_at < finish:
            if stop_at is None or ttl_stop < stop_at:
                halt, pause = ("STOPPING", "STOPPED"), float(seed.stopping)
            attempt.steps = [s for s in attempt.steps if s[0] <= halt_at]
            attempt.steps += [(halt_at, halt[0]), (halt_at + pause, halt[1])]
            attempt.end = halt_at + pause
        else:
            attempt.steps.append((finish, outcome))
            attempt.end = finish
        heapq.heappush(slots, attempt.end)
        result[row["seq"]] = attempt
    return result


def ms(ts: float | None) -> int | None:
    return None if ts is None else int(ts * 1000)


class RunnerEmulator:
    def __init__(self, store: Store, seed: RunnerSeed) -> None:
        self.store = store
        self.seed = seed
        self.rate = HourlyRate(seed.rate_limit)
        self._install_seed()

    def _install_seed(self) -> None:
        now = self.store.now()
        with self.store.transaction() as db:
            for job in self.seed.jobs or ():
                body = {"description": job.description, "executionTtl": job.execution_ttl}
                db.execute(
                    "INSERT OR REPLACE INTO runner_jobs VALUES (?, ?, ?, ?, ?)",
                    (job.id, job.account_alias, json.dumps(body), now, now),
                )

    # -- auth ----------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        try:
            body = await _login_body(request)
        except ApiProblem as problem:
            return self.problem_response(request, problem)
        user, password = body.get("username"), body.get("password")
        if not isinstance(user, str) or not isinstance(password, str):
            return JSONResponse({"message": "username and password are required strings"}, 400)
        users = self.seed.users
        if users is None:
            ok, alias = bool(user and password), "SBOX"
        else:
            known = users.get(user)
            ok, alias = (
                known is not None and known.password == password,
                known.account_alias if known else "",
            )
        if not ok:
            return JSONResponse({"message": "Invalid username or password"}, 400)
        token = uuid.uuid4().hex + uuid.uuid4().hex
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO runner_tokens VALUES (?, ?, ?, ?)",
                (token, alias, user, self.store.now() + self.seed.token_ttl),
            )
        return JSONResponse(
            {
                "userName": user,
                "accountAlias": alias,
                "locationAlias": "VA1",
                "roles": ["AccountAdmin"],
                "bearerToken": token,
            }
        )

    def _authenticate(self, request: Request, alias: str) -> str:
        token = bearer_token(request.headers.get("authorization", ""))
        rows = self.store.query("SELECT * FROM runner_tokens WHERE token = ?", (token,))
        if not token or not rows or rows[0]["expires"] <= self.store.now():
            raise ApiProblem(401, "Unauthorized: missing, invalid or expired bearer token")
        if self.seed.users is not None and rows[0]["alias"] != alias:
            raise ApiProblem(403, f"Forbidden: token is not valid for account {alias}")
        return token

    # -- jobs ----------------------------------------------------------------------------

    def _job_row(self, alias: str, job_id: str) -> sqlite3.Row:
        rows = self.store.query(
            "SELECT * FROM runner_jobs WHERE id = ? AND alias = ?", (job_id, alias)
        )
        if not rows:
            raise ApiProblem(404, f"Job {job_id} not found")
        return rows[0]

    def _job(self, request: Request, row: sqlite3.Row) -> dict[str, Any]:
        body = json.loads(row["body"])
        href = f"/jobs/{row['alias']}/{row['id']}"
        return {
            "id": row["id"],
            "accountAlias": row["alias"],
            "description": body.get("description", ""),
            "executionTtl": body.get("executionTtl", 180),
            "repository": body.get("repository"),
            "hosts": body.get("hosts", []),
            "properties": body.get("properties", {}),
            "callbacks": body.get("callbacks", []),
            "playbookTags": body.get("playbookTags", []),
            "useDynamicInventory": body.get("useDynamicInventory", False),
            "status": "ACTIVE",
            "createdTime": ms(row["created"]),
            "lastUpdatedTime": ms(row["updated"]),
            "links": [
                {"ref": "self", "id": row["id"], "href": href, "verbs": ["GET", "PUT", "DELETE"]},
                {"ref": "executions", "href": f"{href}/executions", "verbs": ["GET"]},
                {"ref": "start", "href": f"{href}/start", "verbs": ["POST"]},
            ],
        }

    async def _body(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw:
            return {}
        body = parse_json(raw)
        if not isinstance(body, dict):
            raise ApiProblem(400, "Request body must be a JSON object")
        return body

    async def create_job(self, request: Request, alias: str) -> tuple[int, Any]:
        body = job_definition(await self._body(request))
        job_id, now = str(uuid.uuid4()), self.store.now()
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO runner_jobs VALUES (?, ?, ?, ?, ?)",
                (job_id, alias, json.dumps(body), now, now),
            )
        if request.query_params.get("immediate") == "true":
            await self._start_execution(alias, job_id, {})
        return 201, [self._job(request, self._job_row(alias, job_id))]

    def _page(self, request: Request, items: list[Any]) -> dict[str, Any]:
        try:
            page = int(request.query_params.get("page", 0))
            size = int(request.query_params.get("size", 100))
        except ValueError:
            raise ApiProblem(400, "page and size must be integers") from None
        if page < 0 or not 1 <= size <= 100:
            raise ApiProblem(400, "page must be >= 0 and size between 1 and 100")
        return {
            "totalSize": len(items),
            "page": page,
            "size": size,
            "results": items[page * size : (page + 1) * size],
        }

    def list_jobs(self, request: Request, alias: str) -> dict[str, Any]:
        rows = self.store.query(
            "SELECT * FROM runner_jobs WHERE alias = ? ORDER BY created DESC", (alias,)
        )
        return self._page(request, [self._job(request, r) for r in rows])

    # -- executions ----------------------------------------------------------------------

    def _ensure_job(self, alias: str, job_id: str) -> None:
        rows = self.store.query(
            "SELECT 1 FROM runner_jobs WHERE id = ? AND alias = ?", (job_id, alias)
        )
        if rows:
            return
        if self.seed.jobs is not None:
            raise ApiProblem(404, f"Job {job_id} not found")
        now = self.store.now()  # auto mode: the specs' job definitions exist
        with self.store.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO runner_jobs VALUES (?, ?, ?, ?, ?)",
                (job_id, alias, json.dumps({"description": f"auto {job_id}"}), now, now),
            )

    async def _start_execution(self, alias: str, job_id: str, body: dict[str, Any]) -> str:
        hosts = body.get("hosts", [])
        if not _hosts(hosts) or not isinstance(body.get("sshPrivateKey", ""), str):
            raise ApiProblem(400, "hosts must be a list of objects with an id")
        job = json.loads(self._job_row(alias, job_id)["body"])
        profile = self.seed.profile(job_id)
        execution_id = str(uuid.uuid4())
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO runner_executions (id, job_id, alias, hosts) VALUES (?, ?, ?, ?)",
                (execution_id, job_id, alias, json.dumps([h["id"] for h in hosts])),
            )
            self._add_attempt(db, execution_id, profile, job)
        return execution_id

    def _add_attempt(
        self,
        db: sqlite3.Connection,
        execution_id: str,
        profile: ExecutionProfile,
        job: dict[str, Any],
    ) -> None:
        db.execute(
            "INSERT INTO runner_attempts (execution_id, created, t_init, t_running, outcome, ttl, "
            "stop_at, stop_kind) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
            (
                execution_id,
                self.store.now(),
                profile.initializing,
                profile.running,
                profile.outcome,
                60 * (job.get("executionTtl") or 180),
            ),
        )

    def _executions(self, alias: str, job_id: str | None = None) -> list[dict[str, Any]]:
        """Execution documents of a job (or the account), newest first."""
        rows = self.store.query(
            "SELECT a.*, e.job_id, e.alias, e.hosts, e.seq AS execution_seq FROM runner_attempts a "
            "JOIN runner_executions e ON e.id = a.execution_id WHERE e.alias = ?",
            (alias,),
        )
        attempts = replay(rows, self.seed)
        now = self.store.now()
        by_execution: dict[str, list[sqlite3.Row]] = {}
        for row in rows:
            by_execution.setdefault(row["execution_id"], []).append(row)
        documents = []
        for execution_id, own in by_execution.items():
            own.sort(key=lambda r: r["seq"])
            if job_id is not None and own[0]["job_id"] != job_id:
                continue
            states = [attempts[r["seq"]].at(now) for r in own]
            status, began, ended = states[-1]
            failed_hosts = json.loads(own[0]["hosts"])[:1] if status == "FAILURE" else []
            documents.append(
                (
                    own[0]["execution_seq"],
                    {
                        "execution_id": execution_id,
                        "job_id": own[0]["job_id"],
                        "account_alias": alias,
                        "status": status,
                        "start": ms(began),
                        "end": ms(ended),
                        "timers": [{"start": ms(b), "end": ms(e)} for _, b, e in states],
                        "repository_log": None,
                        "failed_hosts": failed_hosts,
                        "is_vpn_established": False,
                    },
                )
            )
        documents.sort(key=lambda pair: -pair[0])
        return [doc for _, doc in documents]

    def _execution(self, alias: str, job_id: str, execution_id: str) -> dict[str, Any]:
        for doc in self._executions(alias, job_id):
            if doc["execution_id"] == execution_id:
                return doc
        raise ApiProblem(404, f"Execution {execution_id} not found")

    async def act(
        self, request: Request, alias: str, job_id: str, execution_id: str, verb: str
    ) -> dict[str, Any]:
        current = self._execution(alias, job_id, execution_id)
        status = current["status"]
        body = await self._body(request)
        with self.store.transaction() as db:
            last = db.execute(
                "SELECT * FROM runner_attempts WHERE execution_id = ? ORDER BY seq DESC LIMIT 1",
                (execution_id,),
            ).fetchone()
            if verb == "restart":
                if status not in ("FAILURE", "INIT_FAILURE"):
                    raise ApiProblem(
                        400, f"Only a failed execution can be restarted (status {status})"
                    )
                job = json.loads(self._job_row(alias, job_id)["body"])
                profile = self.seed.profile(job_id)
                self._add_attempt(
                    db, execution_id, profile.model_copy(update={"outcome": "SUCCESS"}), job
                )
            else:
                allowed = {"PENDING", "INITIALIZING", "RUNNING", "STOPPING"} | (
                    {"KILLING"} if verb == "kill" else set()
                )
                if status not in allowed:
                    raise ApiProblem(
                        400, f"Cannot {verb} execution {execution_id} in status {status}"
                    )
                expiry = _expiry(body.get("expiryDuration", 0))
                # A repeated stop or kill keeps the first one's timing; a kill overrides a stop.
                if last["stop_at"] is None or (verb == "kill" and last["stop_kind"] != "kill"):
                    db.execute(
                        "UPDATE runner_attempts SET stop_at = ?, stop_kind = ?, stop_expiry = ? "
                        "WHERE seq = ?",
                        (self.store.now(), verb, expiry, last["seq"]),
                    )
        return self._execution(alias, job_id, execution_id)

    # -- routing -------------------------------------------------------------------------

    def mount(self) -> Mount:
        base = "/jobs/{alias}"
        return Mount(
            "/runner",
            routes=[
                Route("/v2/authentication/login", self.login, methods=["POST"]),
                Route(base, self._endpoint, methods=["GET", "POST"]),
                Route(base + "/", self._endpoint, methods=["GET", "POST"]),
                Route(base + "/{job_id}", self._endpoint, methods=["GET", "PUT", "DELETE"]),
                Route(base + "/{job_id}/start", self._endpoint, methods=["POST"]),
                Route(base + "/{job_id}/executions", self._endpoint, methods=["GET"]),
                # Not in the public documents: a single execution (flagged as such in the docs).
                Route(
                    base + "/{job_id}/executions/{execution_id}", self._endpoint, methods=["GET"]
                ),
                Route(
                    base + "/{job_id}/executions/{execution_id}/{verb:str}",
                    self._endpoint,
                    methods=["POST"],
                ),
            ],
        )

    async def _endpoint(self, request: Request) -> Response:
        params = request.path_params
        headers: dict[str, str] = {}
        try:
            token = self._authenticate(request, params["alias"])
            headers = self.rate.count(token)
            status, body = await self._dispatch(request, params)
        except ApiProblem as problem:
            problem.headers = {**headers, **problem.headers}
            return self.problem_response(request, problem)
        if status == 204:
            return Response(status_code=204, headers=headers)
        return JSONResponse(body, status, headers)

    def problem_response(self, request: Request, problem: ApiProblem) -> Response:
        """``{"message": ...}``: the CLC v2 error body (an assumption, see the provider doc)."""
        return JSONResponse({"message": problem.message}, problem.status, problem.headers)

    async def _dispatch(self, request: Request, params: dict[str, Any]) -> tuple[int, Any]:
        alias, job_id, method = params["alias"], params.get("job_id"), request.method
        execution_id, verb = params.get("execution_id"), params.get("verb")
        path = request.url.path
        if job_id is None:
            return (
                (await self.create_job(request, alias))
                if method == "POST"
                else (200, self.list_jobs(request, alias))
            )
        if path.endswith("/start"):
            self._ensure_job(alias, job_id)
            started = await self._start_execution(alias, job_id, await self._body(request))
            return 200, self._execution(alias, job_id, started)
        if path.endswith("/executions"):
            self._ensure_job(alias, job_id)
            return 200, self._page(request, self._executions(alias, job_id))
        if execution_id is not None and verb is None:
            return 200, self._execution(alias, job_id, execution_id)
        if verb is not None and execution_id is not None:
            if verb not in ("stop", "kill", "restart"):
                raise ApiProblem(404, f"No such action: {verb}")
            return 200, await self.act(request, alias, job_id, execution_id, verb)
        row = self._job_row(alias, job_id)
        if method == "DELETE":
            with self.store.transaction() as db:
                db.execute("DELETE FROM runner_jobs WHERE id = ?", (job_id,))
            return 204, None
        if method == "PUT":  # "re-write the entire Job description" (KB, Update Job)
            body = job_definition(await self._body(request))
            with self.store.transaction() as db:
                db.execute(
                    "UPDATE runner_jobs SET body = ?, updated = ? WHERE id = ?",
                    (json.dumps(body), self.store.now(), job_id),
                )
            if request.query_params.get("immediate") == "true":
                await self._start_execution(alias, job_id, {})
            row = self._job_row(alias, job_id)
        return 200, self._job(request, row)


async def _login_body(request: Request) -> dict[str, Any]:
    """JSON as documented (CAPI login), or a form as CenturyLink's own SDKs post it."""
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(raw.decode("utf-8", "replace")))
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise ApiProblem(400, "Request body must be a JSON object")
    return body


def _hosts(value: Any) -> bool:
    """Hosts entities: objects with a string ``id`` (KB, Hosts Entity)."""
    return isinstance(value, list) and all(
        isinstance(h, dict) and isinstance(h.get("id"), str) and h["id"] for h in value
    )


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def job_definition(body: dict[str, Any]) -> dict[str, Any]:
    """A job definition as Create/Update Job take it (KB, Content Properties): the playbook from
    a repository or inline (one of them), hosts required, typed optional fields; else a 400."""
    problems = []
    repository, playbook = body.get("repository"), body.get("playbook")
    if (repository is None) == (playbook is None):
        problems.append("exactly one of repository and playbook is required")
    if repository is not None and not (
        isinstance(repository, dict)
        and all(isinstance(repository.get(k), str) for k in ("url", "defaultPlaybook"))
        and isinstance(repository.get("branch", ""), str)
    ):
        problems.append("repository needs url and defaultPlaybook strings")
    if playbook is not None and not isinstance(playbook, str):
        problems.append("playbook must be a base64 string")
    if not _hosts(body.get("hosts")):
        problems.append("hosts is required: a list of objects with an id")
    ttl = body.get("executionTtl")
    if ttl is not None and not (is_int(ttl) and 0 < ttl <= INT32_MAX):
        problems.append("executionTtl must be a positive integer of minutes")
    callbacks = body.get("callbacks", [])
    if not isinstance(callbacks, list) or not all(
        isinstance(c, dict) and isinstance(c.get("url"), str) for c in callbacks
    ):
        problems.append("callbacks must be a list of objects with a url")
    for name, valid in (
        ("description", isinstance(body.get("description", ""), str)),
        ("playbookTags", _strings(body.get("playbookTags", []))),
        ("properties", isinstance(body.get("properties", {}), dict)),
        ("sshPrivateKey", isinstance(body.get("sshPrivateKey", ""), str)),
        ("useDynamicInventory", isinstance(body.get("useDynamicInventory", False), bool)),
    ):
        if not valid:
            problems.append(f"{name} has the wrong type")
    if problems:
        raise ApiProblem(400, "Invalid job: " + "; ".join(problems))
    return body


def _expiry(value: Any) -> float:
    """A stop or kill signal's ``expiryDuration``: a number of seconds, default 0 (KB)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiProblem(400, "expiryDuration must be a number of seconds")
    if not (math.isfinite(value) and 0 <= value <= INT32_MAX):
        raise ApiProblem(400, f"expiryDuration must be between 0 and {INT32_MAX} seconds")
    return float(value)
