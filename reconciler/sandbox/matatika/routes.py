"""Matatika (Meltano-based ELT) jobs emulator, served under ``/matatika/api``.

One job per pipeline at a time: a start while one is active is a 409. ``status_set: seed``
serves the 2021 documents instead: no QUEUED, no STOPPED, stop by DELETE only, and
``enable-task-details`` filling the task fields. Collections are Spring HAL pages.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from reconciler.sandbox.common import ApiProblem, bearer_token, form_or_json
from reconciler.sandbox.emulator import Emulator, Endpoint, endpoint
from reconciler.sandbox.matatika.model import TABLES, TERMINAL, job_document, job_state, log_lines
from reconciler.sandbox.matatika.oauth import grant_problem, issued_token, oauth_error
from reconciler.sandbox.matatika.seed import MatatikaSeed
from reconciler.sandbox.paging import page_count, spring_page
from reconciler.sandbox.store import Store

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


class MatatikaEmulator(Emulator[MatatikaSeed]):
    name = "matatika"
    seed_model = MatatikaSeed
    tables = TABLES
    base = "/api"
    media_type = "application/hal+json"

    def __init__(self, store: Store, seed: MatatikaSeed) -> None:
        super().__init__(store, seed)
        with store.transaction() as db:
            for p in seed.pipelines or ():
                db.execute(
                    "INSERT OR REPLACE INTO matatika_pipelines VALUES (?, ?, ?, ?, ?, ?)",
                    (p.id, p.workspace, p.name, p.timeout, p.running, p.outcome),
                )

    def endpoints(self) -> list[Endpoint]:
        return [
            endpoint("/pipelines/{pipeline_id}/jobs", GET=self.pipeline_jobs, POST=self.create),
            endpoint("/pipeline/{pipeline_id}/jobs", GET=self.pipeline_jobs, POST=self.create),
            endpoint("/workspaces/{workspace_id}/jobs", GET=self.workspace_jobs),
            endpoint("/jobs/{job_id}", GET=self.get, DELETE=self.delete),
            endpoint("/jobs/{job_id}/stopped", PUT=self.stop),
            endpoint("/jobs/{job_id}/logs", GET=self.logs),
            endpoint("/oauth/token", authenticated=False, POST=self.grant),
        ]

    def authenticate(self, request: Request) -> str:
        token = bearer_token(request.headers.get("authorization", ""))
        accepted = self.seed.tokens
        if accepted is not None and self.seed.clients is not None:
            accepted = [*accepted, *(issued_token(c, s) for c, s in self.seed.clients.items())]
        if not token or (accepted is not None and token not in accepted):
            raise ApiProblem(401, "Full authentication is required to access this resource")
        return token

    def problem_response(self, request: Request, problem: ApiProblem) -> Response:
        """Spring Boot's error body (MD ``errors.md``); OAuth's at the token endpoint."""
        path = request.url.path.removeprefix(self.prefix())
        if path.startswith(f"{self.base}/oauth/"):
            code = "invalid_request" if problem.status < 500 else "server_error"
            return oauth_error(problem.status, code, problem.message, problem.headers)
        body = {
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "status": problem.status,
            "error": REASONS.get(problem.status, "Error"),
            "errors": [],
            "message": problem.message,
            "path": path,
        }
        return JSONResponse(body, problem.status, problem.headers)

    async def grant(self, request: Request) -> Response:
        """Client credentials for a token: a JSON or form body (Auth0 takes both, chosen by
        Content-Type)."""
        body = await form_or_json(request)
        client_id, secret = body.get("client_id"), body.get("client_secret")
        refused = grant_problem(client_id, secret, body.get("grant_type"), self.seed.clients)
        if refused is not None:
            return refused
        with self.store.transaction() as db:
            db.execute("INSERT INTO matatika_grants VALUES (?, ?)", (self.now(), client_id))
        token = issued_token(str(client_id), str(secret))
        return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": 7200})

    # -- pipelines and jobs --------------------------------------------------------------

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

    def _row(self, job_id: str) -> sqlite3.Row:
        rows = self.store.query(
            "SELECT * FROM matatika_jobs WHERE id = ? AND deleted = 0", (job_id,)
        )
        if not rows:
            raise ApiProblem(404, f"Job {job_id} not found")
        return rows[0]

    def _state(self, row: sqlite3.Row, now: float) -> tuple[str, float | None, float | None]:
        return job_state(row, self._pipeline(row["pipeline_id"]), self.seed, now)

    def _job(self, request: Request, row: sqlite3.Row, now: float) -> dict[str, Any]:
        details = request.headers.get("enable-task-details", "false").lower() == "true"
        url = self.url(request, f"{self.base}/jobs/{row['id']}")
        return job_document(url, row, self._pipeline(row["pipeline_id"]), self.seed, now, details)

    async def create(self, request: Request) -> Response:
        pipeline_id = request.path_params["pipeline_id"]
        pipeline = self._pipeline(pipeline_id)
        now = self.now()
        with self.store.transaction() as db:
            for other in db.execute(
                "SELECT * FROM matatika_jobs WHERE pipeline_id = ? AND deleted = 0", (pipeline_id,)
            ).fetchall():
                status, _, _ = job_state(other, pipeline, self.seed, now)
                if status not in TERMINAL:
                    raise ApiProblem(
                        409, f"Pipeline {pipeline_id} already has an active job {other['id']}"
                    )
            job_id = str(uuid.uuid4())
            running = pipeline["running"]
            running = self.seed.running if running is None else running
            profile = hashlib.md5(self.credential(request).encode()).hexdigest()
            db.execute(
                "INSERT INTO matatika_jobs (id, pipeline_id, profile, created, t_queued, "
                "t_running, outcome, stop_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                (
                    job_id,
                    pipeline_id,
                    str(uuid.UUID(profile)),
                    now,
                    self.seed.queued,
                    running,
                    pipeline["outcome"] or self.seed.outcome,
                ),
            )
        return self.json(self._job(request, self._row(job_id), now), 201)

    def _collection(self, request: Request, jobs: str, params: tuple[str, ...]) -> Response:
        """The page of the jobs ``jobs`` (an SQL FROM ... WHERE ... of ``matatika_jobs j``)
        selects, from SQLite: not the whole collection for each page (issue 20)."""
        query = request.query_params
        page = spring_page(
            query.get("page"), query.get("size"), default_size=SIZE_DEFAULT, max_size=SIZE_MAX
        )
        size = page.size
        order = "DESC" if query.get("sort", "created,desc").endswith("desc") else "ASC"
        total = int(self.store.query(f"SELECT COUNT(*) AS n {jobs}", params)[0]["n"])
        chunk = self.store.query(
            f"SELECT j.* {jobs} ORDER BY j.seq {order} LIMIT ? OFFSET ?",
            (*params, size, page.offset),
        )
        now = self.now()
        pages = page_count(total, size)  # Spring: an empty collection has 0 pages
        base = str(request.url.replace(query=""))
        links: dict[str, Any] = {"self": {"href": f"{base}?page={page.number}&size={size}"}}
        if page.number + 1 < pages:
            links["next"] = {"href": f"{base}?page={page.number + 1}&size={size}"}
        body: dict[str, Any] = {
            "_links": links,
            "page": {
                "size": size,
                "totalElements": total,
                "totalPages": pages,
                "number": page.number,
            },
        }
        if chunk:
            body["_embedded"] = {"jobs": [self._job(request, r, now) for r in chunk]}
        return self.json(body)

    async def pipeline_jobs(self, request: Request) -> Response:
        pipeline_id = request.path_params["pipeline_id"]
        self._pipeline(pipeline_id)
        return self._collection(
            request,
            "FROM matatika_jobs j WHERE j.pipeline_id = ? AND j.deleted = 0",
            (pipeline_id,),
        )

    async def workspace_jobs(self, request: Request) -> Response:
        workspace = request.path_params["workspace_id"]
        # A workspace exists when a seeded pipeline is in it (in auto mode, any does).
        if self.seed.pipelines is not None and not any(
            p.workspace == workspace for p in self.seed.pipelines
        ):
            raise ApiProblem(404, f"Workspace {workspace} not found")
        return self._collection(
            request,
            "FROM matatika_jobs j JOIN matatika_pipelines p ON p.id = j.pipeline_id "
            "WHERE j.deleted = 0 AND (p.workspace = ? OR p.workspace = 'auto')",
            (workspace,),
        )

    async def get(self, request: Request) -> Response:
        return self.json(self._job(request, self._row(request.path_params["job_id"]), self.now()))

    async def stop(self, request: Request) -> Response:
        job_id = request.path_params["job_id"]
        if self.seed.seed_era:
            raise ApiProblem(404, "No handler for PUT /api/jobs/{id}/stopped")
        row = self._row(job_id)
        now = self.now()
        status, _, _ = self._state(row, now)
        if status != "RUNNING":
            raise ApiProblem(409, f"Job {job_id} is not RUNNING (status {status})")
        if row["stop_at"] is None:
            with self.store.transaction() as db:
                db.execute("UPDATE matatika_jobs SET stop_at = ? WHERE id = ?", (now, job_id))
        return self.json(self._job(request, self._row(job_id), now), 202)

    async def delete(self, request: Request) -> Response:
        row = self._row(request.path_params["job_id"])
        now = self.now()
        with self.store.transaction() as db:  # "deletes and stops"
            db.execute(
                "UPDATE matatika_jobs SET deleted = 1, stop_at = COALESCE(stop_at, ?) WHERE id = ?",
                (now, row["id"]),
            )
        return Response(status_code=204)

    async def logs(self, request: Request) -> Response:
        job_id = request.path_params["job_id"]
        row = self._row(job_id)
        now = self.now()
        status, began, ended = self._state(row, now)
        lines = log_lines(job_id, status, began, ended, now)
        try:
            sequence = max(0, int(request.query_params.get("sequence", 0)))
        except ValueError:
            raise ApiProblem(400, "sequence must be an integer") from None
        fresh = lines[sequence:]
        if not fresh:
            return Response(status_code=204)
        accept = request.headers.get("accept", "")
        if "ndjson" in accept or "stream+json" in accept:
            text = "".join(
                json.dumps({"sequence": sequence + i, "line": line}) + "\n"
                for i, line in enumerate(fresh)
            )
            return Response(text, media_type="application/x-ndjson")
        return PlainTextResponse("\n".join(fresh) + "\n")
