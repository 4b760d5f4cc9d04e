"""Matatika (Meltano-based ELT) jobs emulator, served under ``/matatika/api``.

One job per pipeline at a time: a start while one is active is a 409. Jobs move QUEUED ->
RUNNING -> COMPLETE | ERROR on the sandbox clock, or STOPPED when stopped or past the
pipeline's timeout. ``status_set: seed`` serves the 2021 documents instead: no QUEUED, no
STOPPED, stop by DELETE only, and ``enable-task-details`` filling the task fields.
Timestamps carry no zone (UTC, microseconds), collections are Spring HAL pages.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from reconciler.sandbox.common import INT32_MAX, ApiProblem, HourlyRate, bearer_token, parse_json
from reconciler.sandbox.seed import MatatikaSeed
from reconciler.sandbox.store import Store

TERMINAL = frozenset({"COMPLETE", "ERROR", "STOPPED"})
REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
SIZE_DEFAULT, SIZE_MAX = 20, 2000  # Spring Data's defaults


def stamp(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def issued_token(client_id: str, secret: str) -> str:
    """The token the grant issues to a client: derived, so separate processes agree."""
    return "mt-" + hashlib.sha256(f"{client_id}:{secret}".encode()).hexdigest()[:32]


class MatatikaEmulator:
    def __init__(self, store: Store, seed: MatatikaSeed) -> None:
        self.store = store
        self.seed = seed
        self.rate = HourlyRate(seed.rate_limit)
        with self.store.transaction() as db:
            for p in seed.pipelines or ():
                db.execute(
                    "INSERT OR REPLACE INTO matatika_pipelines VALUES (?, ?, ?, ?, ?, ?)",
                    (p.id, p.workspace, p.name, p.timeout, p.running, p.outcome),
                )

    @property
    def seed_era(self) -> bool:
        return self.seed.status_set == "seed"

    def _authenticate(self, request: Request) -> str:
        token = bearer_token(request.headers.get("authorization", ""))
        accepted = self.seed.tokens
        if accepted is not None and self.seed.clients is not None:
            accepted = [*accepted, *(issued_token(c, s) for c, s in self.seed.clients.items())]
        if not token or (accepted is not None and token not in accepted):
            raise ApiProblem(401, "Full authentication is required to access this resource")
        return token

    def _pipeline(self, pipeline_id: str) -> sqlite3.Row:
        rows = self.store.query("SELECT * FROM matatika_pipelines WHERE id = ?", (pipeline_id,))
        if rows:
            return rows[0]
        if self.seed.pipelines is not None:
            raise ApiProblem(404, f"Pipeline {pipeline_id} not found")
        with self.store.transaction() as db:  # auto mode: the specs' pipelines exist
            db.execute(
                "INSERT OR IGNORE INTO matatika_pipelines VALUES (?, 'auto', ?, 0, NULL, NULL)",
                (pipeline_id, f"pipeline {pipeline_id}"),
            )
        return self.store.query("SELECT * FROM matatika_pipelines WHERE id = ?", (pipeline_id,))[0]

    def _workspace(self, workspace_id: str) -> None:
        """A workspace exists when a seeded pipeline is in it (in auto mode, any does)."""
        if self.seed.pipelines is None:
            return
        if not any(p.workspace == workspace_id for p in self.seed.pipelines):
            raise ApiProblem(404, f"Workspace {workspace_id} not found")

    def _state(
        self, job: sqlite3.Row, pipeline: sqlite3.Row, now: float
    ) -> tuple[str, float | None, float | None]:
        """(status, start time, end time) at ``now``."""
        queued = 0.0 if self.seed_era else job["t_queued"]
        begin = job["created"] + queued
        limit = pipeline["timeout"] or 300
        run_for = job["t_running"]
        natural = begin + run_for
        outcome = job["outcome"]
        if run_for > limit and not self.seed_era:
            natural, outcome = begin + limit, "STOPPED"  # timed out
        stop_at = job["stop_at"]
        if stop_at is not None and stop_at < natural:
            natural, outcome = stop_at + self.seed.stopping, "STOPPED"
        if now >= natural:
            return outcome, begin, natural
        if now >= begin:
            return "RUNNING", begin, None
        return "QUEUED", None, None

    def _job(
        self, request: Request, row: sqlite3.Row, now: float, *, details: bool = False
    ) -> dict[str, Any]:
        pipeline = self._pipeline(row["pipeline_id"])
        status, began, ended = self._state(row, pipeline, now)
        base = f"{request.base_url}matatika/api/jobs/{row['id']}"
        exit_code = {"COMPLETE": 0, "ERROR": 1}.get(status)
        job: dict[str, Any] = {
            "id": row["id"],
            "created": stamp(row["created"]),
            "type": "PIPELINE_RUN",
            "maxAttempts": 0,
            "attempt": 1,
            "commitId": hashlib.sha1(row["id"].encode()).hexdigest()[:7],
            "exitCode": exit_code,
            "status": status,
            "startTime": stamp(began),
            "endTime": stamp(ended),
            "_embedded": {
                "pipeline": {
                    "id": pipeline["id"],
                    "status": "READY",
                    "name": pipeline["name"],
                    "timeout": pipeline["timeout"],
                    "maxRetries": 0,
                },
                "profile": {
                    "id": row["profile"],
                    "name": "Sandbox",
                    "handle": "@sandbox",
                    "email": "sandbox@example.com",
                },
            },
            "_links": {
                "self": {"href": base},
                "delete job": {"href": base, "type": "DELETE"},
                "logs": {"href": f"{base}/logs?sequence=0", "type": "GET"},
            },
        }
        if not self.seed_era and status == "RUNNING":
            job["_links"]["stop job"] = {"href": f"{base}/stopped", "type": "PUT"}
        if self.seed_era:
            for name in ("taskName", "exitMessage", "arguments", "errorMessage"):
                job[name] = None
            if details:
                job.update(
                    taskName="meltano elt",
                    exitMessage=status.lower(),
                    arguments=["elt"],
                    errorMessage=None if status != "ERROR" else "tap failed",
                )
        return job

    def _row(self, job_id: str) -> sqlite3.Row:
        rows = self.store.query(
            "SELECT * FROM matatika_jobs WHERE id = ? AND deleted = 0", (job_id,)
        )
        if not rows:
            raise ApiProblem(404, f"Job {job_id} not found")
        return rows[0]

    def create(self, request: Request, token: str, pipeline_id: str) -> tuple[int, Any]:
        pipeline = self._pipeline(pipeline_id)
        now = self.store.now()
        with self.store.transaction() as db:
            for other in db.execute(
                "SELECT * FROM matatika_jobs WHERE pipeline_id = ? AND deleted = 0", (pipeline_id,)
            ).fetchall():
                status, _, _ = self._state(other, pipeline, now)
                if status not in TERMINAL:
                    raise ApiProblem(
                        409, f"Pipeline {pipeline_id} already has an active job {other['id']}"
                    )
            job_id = str(uuid.uuid4())
            running = pipeline["running"]
            running = self.seed.running if running is None else running
            db.execute(
                "INSERT INTO matatika_jobs (id, pipeline_id, profile, created, t_queued, "
                "t_running, outcome, stop_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                (
                    job_id,
                    pipeline_id,
                    str(uuid.UUID(hashlib.md5(token.encode()).hexdigest())),
                    now,
                    self.seed.queued,
                    running,
                    pipeline["outcome"] or self.seed.outcome,
                ),
            )
        return 201, self._job(request, self._row(job_id), now, details=self._details(request))

    def _details(self, request: Request) -> bool:
        return request.headers.get("enable-task-details", "false").lower() == "true"

    def collection(self, request: Request, rows: list[sqlite3.Row]) -> dict[str, Any]:
        query = request.query_params
        # Spring Data's PageableHandlerMethodArgumentResolver: an unreadable or negative page is
        # 0, an unreadable or non-positive size the default, a larger one the maximum.
        page = max(0, _spring_int(query.get("page"), 0))
        size = _spring_int(query.get("size"), SIZE_DEFAULT)
        size = SIZE_DEFAULT if size < 1 else min(size, SIZE_MAX)
        order = query.get("sort", "created,desc")
        rows = sorted(rows, key=lambda r: r["seq"], reverse=order.endswith("desc"))
        now = self.store.now()
        chunk = rows[page * size : (page + 1) * size]
        pages = math.ceil(len(rows) / size)  # Spring: an empty collection has 0 pages
        base = str(request.url.replace(query=""))
        links: dict[str, Any] = {"self": {"href": f"{base}?page={page}&size={size}"}}
        if page + 1 < pages:
            links["next"] = {"href": f"{base}?page={page + 1}&size={size}"}
        details = self._details(request)
        body: dict[str, Any] = {
            "_links": links,
            "page": {"size": size, "totalElements": len(rows), "totalPages": pages, "number": page},
        }
        if chunk:
            body["_embedded"] = {
                "jobs": [self._job(request, r, now, details=details) for r in chunk]
            }
        return body

    def stop(self, request: Request, job_id: str) -> tuple[int, Any]:
        row = self._row(job_id)
        now = self.store.now()
        status, _, _ = self._state(row, self._pipeline(row["pipeline_id"]), now)
        if status != "RUNNING":
            raise ApiProblem(409, f"Job {job_id} is not RUNNING (status {status})")
        if row["stop_at"] is None:
            with self.store.transaction() as db:
                db.execute("UPDATE matatika_jobs SET stop_at = ? WHERE id = ?", (now, job_id))
        return 202, self._job(request, self._row(job_id), now)

    def delete(self, job_id: str) -> tuple[int, Any]:
        row = self._row(job_id)
        now = self.store.now()
        with self.store.transaction() as db:  # "deletes and stops"
            db.execute(
                "UPDATE matatika_jobs SET deleted = 1, stop_at = COALESCE(stop_at, ?) WHERE id = ?",
                (now, row["id"]),
            )
        return 204, None

    def logs(self, request: Request, job_id: str) -> Response:
        row = self._row(job_id)
        now = self.store.now()
        status, began, ended = self._state(row, self._pipeline(row["pipeline_id"]), now)
        lines = [f"job {job_id} queued"]
        if began is not None:
            lines += [f"extracted batch {i + 1}" for i in range(int(((ended or now) - began) // 5))]
        if status in TERMINAL:
            lines.append(f"job {job_id} {status.lower()}")
        try:
            sequence = max(0, int(request.query_params.get("sequence", 0)))
        except ValueError:
            raise ApiProblem(400, "sequence must be an integer") from None
        fresh = lines[sequence:]
        if not fresh:
            return Response(status_code=204)
        if "ndjson" in request.headers.get("accept", "") or "stream+json" in request.headers.get(
            "accept", ""
        ):
            text = "".join(
                json.dumps({"sequence": sequence + i, "line": line}) + "\n"
                for i, line in enumerate(fresh)
            )
            return Response(text, media_type="application/x-ndjson")
        return PlainTextResponse("\n".join(fresh) + "\n")

    # -- routing -------------------------------------------------------------------------

    def mount(self) -> Mount:
        return Mount(
            "/matatika/api",
            routes=[
                Route("/pipelines/{pipeline_id}/jobs", self._endpoint, methods=["GET", "POST"]),
                Route("/pipeline/{pipeline_id}/jobs", self._endpoint, methods=["GET", "POST"]),
                Route("/workspaces/{workspace_id}/jobs", self._endpoint, methods=["GET"]),
                Route("/jobs/{job_id}", self._endpoint, methods=["GET", "DELETE"]),
                Route("/jobs/{job_id}/stopped", self._endpoint, methods=["PUT"]),
                Route("/jobs/{job_id}/logs", self._endpoint, methods=["GET"]),
                Route("/oauth/token", self._token, methods=["POST"]),
            ],
        )

    async def _token(self, request: Request) -> Response:
        """A stub of the Auth0 client-credentials exchange: a JSON or form body (Auth0 takes
        both, chosen by Content-Type), OAuth 2.0 errors (RFC 6749 §5.2)."""
        try:
            body = await _grant_body(request)
        except ApiProblem as problem:
            return self.problem_response(request, problem)
        client_id, secret = body.get("client_id"), body.get("client_secret")
        grant = body.get("grant_type")
        if not (isinstance(client_id, str) and isinstance(secret, str) and client_id and secret):
            return _oauth_error(400, "invalid_request", "client_id and client_secret required")
        if grant != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "grant_type: client_credentials")
        clients = self.seed.clients
        if clients is not None and clients.get(client_id) != secret:
            return _oauth_error(401, "access_denied", "Unauthorized")
        with self.store.transaction() as db:
            db.execute("INSERT INTO matatika_grants VALUES (?, ?)", (self.store.now(), client_id))
        return JSONResponse(
            {
                "access_token": issued_token(client_id, secret),
                "token_type": "Bearer",
                "expires_in": 7200,
            }
        )

    async def _endpoint(self, request: Request) -> Response:
        headers: dict[str, str] = {}
        try:
            token = self._authenticate(request)
            headers = self.rate.count(token)
            response = await self._dispatch(request, token)
        except ApiProblem as problem:
            problem.headers = {**headers, **problem.headers}
            return self.problem_response(request, problem)
        response.headers.update(headers)
        return response

    def problem_response(self, request: Request, problem: ApiProblem) -> Response:
        """Spring Boot's error body (MD ``errors.md``); OAuth's at the token endpoint."""
        if request.url.path.startswith("/matatika/api/oauth/"):
            code = "invalid_request" if problem.status < 500 else "server_error"
            return _oauth_error(problem.status, code, problem.message, problem.headers)
        body = {
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "status": problem.status,
            "error": REASONS.get(problem.status, "Error"),
            "errors": [],
            "message": problem.message,
            "path": request.url.path.removeprefix("/matatika"),
        }
        return JSONResponse(body, problem.status, problem.headers)

    async def _dispatch(self, request: Request, token: str) -> Response:
        params, method, path = request.path_params, request.method, request.url.path
        hal = "application/hal+json"
        if "pipeline_id" in params:
            if method == "POST":
                status, body = self.create(request, token, params["pipeline_id"])
                return JSONResponse(body, status, media_type=hal)
            self._pipeline(params["pipeline_id"])
            rows = self.store.query(
                "SELECT * FROM matatika_jobs WHERE pipeline_id = ? AND deleted = 0",
                (params["pipeline_id"],),
            )
            return JSONResponse(self.collection(request, rows), media_type=hal)
        if "workspace_id" in params:
            workspace = params["workspace_id"]
            self._workspace(workspace)
            rows = self.store.query(
                "SELECT j.* FROM matatika_jobs j JOIN matatika_pipelines p ON p.id = j.pipeline_id "
                "WHERE j.deleted = 0 AND (p.workspace = ? OR p.workspace = 'auto')",
                (workspace,),
            )
            return JSONResponse(self.collection(request, rows), media_type=hal)
        job_id = params["job_id"]
        if path.endswith("/stopped"):
            if self.seed_era:
                raise ApiProblem(404, "No handler for PUT /api/jobs/{id}/stopped")
            status, body = self.stop(request, job_id)
            return JSONResponse(body, status, media_type=hal)
        if path.endswith("/logs"):
            return self.logs(request, job_id)
        if method == "DELETE":
            self.delete(job_id)
            return Response(status_code=204)
        details = self._details(request)
        return JSONResponse(
            self._job(request, self._row(job_id), self.store.now(), details=details), media_type=hal
        )


def _spring_int(value: str | None, default: int) -> int:
    """An int query parameter as Spring binds it: a Java int, else the default."""
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return default
    return number if -INT32_MAX - 1 <= number <= INT32_MAX else default


async def _grant_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(raw.decode("utf-8", "replace")))
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise ApiProblem(400, "Request body must be a JSON object")
    return body


def _oauth_error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status, headers)
