"""Vonage Proactive Connect (beta) job-runs emulator, served under ``/vonage``.

Requests are camelCase, responses snake_case; errors are RFC 7807 problem documents. The
documents' inconsistent prefixes (``/beta/runs``, ``/beta/jobs/runs``, ``/runs``) are all served.
"""

from __future__ import annotations

import math
import sqlite3
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reconciler.sandbox.common import ApiProblem, bearer_token, is_jwt, json_object
from reconciler.sandbox.emulator import Emulator, Endpoint, endpoint
from reconciler.sandbox.paging import strict_page
from reconciler.sandbox.vonage.jwt import application_jwt_problem
from reconciler.sandbox.vonage.model import ENDED, TABLES, parse_iso, run_document, run_status
from reconciler.sandbox.vonage.seed import VonageSeed

ERROR_TYPE = "https://developer.vonage.com/en/api-errors"
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "The requested resource does not exist",
    405: "Method Not Allowed",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class VonageEmulator(Emulator[VonageSeed]):
    name = "vonage"
    seed_model = VonageSeed
    tables = TABLES

    def endpoints(self) -> list[Endpoint]:
        routes = [
            endpoint("/beta/jobs/runs", POST=self.create),
            endpoint("/beta/runs", GET=self.list),
            endpoint("/beta/runs/", GET=self.list),
        ]
        for prefix in ("/beta/runs", "/beta/jobs/runs", "/runs"):
            routes += [
                endpoint(prefix + "/{run_id}", GET=self.get),
                endpoint(prefix + "/{run_id}/stop", POST=self.stop),
                endpoint(prefix + "/{run_id}/summary", GET=self.summary),
            ]
        return routes

    def authenticate(self, request: Request) -> str:
        token = bearer_token(request.headers.get("authorization", ""))
        if not token or not is_jwt(token):
            raise ApiProblem(401, "Invalid or missing bearer JWT")
        tokens, applications = self.seed.tokens, self.seed.applications
        if tokens is None and applications is None:
            return token
        if tokens is not None and token in tokens:
            return token
        if applications is not None:
            # Real time, not the sandbox clock: the client signs with its own clock.
            refused = application_jwt_problem(token, applications, time.time())
            if refused is None:
                return token
            raise ApiProblem(401, refused)
        raise ApiProblem(401, "The JWT is not valid for this application")

    def problem_response(self, request: Request, problem: ApiProblem) -> Response:
        """RFC 7807, as the GA Proactive Connect API answers (VSDK fixtures)."""
        document: dict[str, Any] = {
            "type": ERROR_TYPE,
            "title": TITLES.get(problem.status, "Error"),
            "detail": problem.message,
            "instance": str(uuid.uuid4()),
        }
        if problem.status == 400:
            document["errors"] = [problem.message]
        return JSONResponse(document, problem.status, problem.headers, "application/problem+json")

    def _row(self, run_id: str) -> sqlite3.Row:
        rows = self.store.query("SELECT * FROM vonage_runs WHERE id = ?", (run_id,))
        if not rows:
            raise ApiProblem(404, f"Run {run_id} was not found")
        return rows[0]

    async def create(self, request: Request) -> Response:
        body = await json_object(request)
        errors = [
            f"{f} is required"
            for f in ("jobId", "name")
            if not isinstance(body.get(f), str) or not body[f]
        ]
        if errors:
            raise ApiProblem(400, "Invalid request: " + "; ".join(errors))
        start, end = (
            parse_iso(body.get("startAt"), "startAt"),
            parse_iso(body.get("endAt"), "endAt"),
        )
        if end <= start:
            raise ApiProblem(400, "endAt must be after startAt")
        job_id = body["jobId"]
        if self.seed.jobs is not None and job_id not in self.seed.jobs:
            raise ApiProblem(404, f"Job {job_id} was not found")
        now = self.now()
        run_id = str(uuid.uuid4())
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO vonage_runs (id, job_id, name, start_at, end_at, created, "
                "stopped_at, outcome) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
                (run_id, job_id, body["name"], start, end, now, self.seed.outcome(job_id)),
            )
        return self.json(run_document(self._row(run_id), now), 201)

    async def list(self, request: Request) -> Response:
        query = request.query_params
        page = strict_page(
            query.get("page"),
            query.get("page_size"),
            names=("page", "page_size"),
            first=1,
            default_size=100,
            max_size=1000,
        )
        now = self.now()
        # The page from SQLite, not the whole table for each page (issue 20).
        total = int(self.store.query("SELECT COUNT(*) AS n FROM vonage_runs")[0]["n"])
        rows = self.store.query(
            "SELECT * FROM vonage_runs ORDER BY seq LIMIT ? OFFSET ?", (page.size, page.offset)
        )
        size = page.size
        pages = max(1, math.ceil(total / size))
        base = str(request.url.replace(query=""))

        def link(number: int) -> dict[str, str]:
            return {"href": f"{base}?page_size={size}&page={number}"}

        links = {"self": link(page.number), "first": link(1), "last": link(pages)}
        if page.number > 1:
            links["prev"] = link(page.number - 1)
        if page.number < pages:
            links["next"] = link(page.number + 1)
        return self.json(
            {
                "total_items": total,
                "page": page.number,
                "page_size": size,
                "total_pages": pages,
                "_embedded": {"runs": [run_document(r, now) for r in rows]},
                "_links": links,
            }
        )

    async def get(self, request: Request) -> Response:
        return self.json(run_document(self._row(request.path_params["run_id"]), self.now()))

    async def stop(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        now = self.now()
        with self.store.transaction() as db:
            row = db.execute("SELECT * FROM vonage_runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise ApiProblem(404, f"Run {run_id} was not found")
            _, status = run_status(row, now)
            if status in ENDED:
                raise ApiProblem(409, f"Run {run_id} has already ended (status {status})")
            db.execute("UPDATE vonage_runs SET stopped_at = ? WHERE id = ?", (now, run_id))
            row = db.execute("SELECT * FROM vonage_runs WHERE id = ?", (run_id,)).fetchone()
        return self.json(run_document(row, now))

    async def summary(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        row = self._row(run_id)
        now = self.now()
        _, status = run_status(row, now)
        # Deterministic counts that grow while the run is live.
        live_until = min(now, row["end_at"], row["stopped_at"] or math.inf)
        elapsed = max(0.0, live_until - row["start_at"])
        recipients = int(elapsed // 60)
        # A failed run lost half its deliveries (at least one); else one in ten fails.
        failed = max(1, recipients // 2) if status == "failed" else recipients // 10
        recipients = max(recipients, failed)
        href = self.url(request, f"/runs/{run_id}/summary?page_size=100&page=1")
        return self.json(
            {
                "total_items": 2,
                "page": 1,
                "page_size": 100,
                "total_pages": 1,
                "_embedded": {
                    "recipient_response": {
                        "recipients_count": recipients // 2,
                        "job_run_id": run_id,
                    },
                    "action_delivery_status": {
                        "recipients_count": recipients,
                        "status_succeeded_count": recipients - failed,
                        "status_failed_count": failed,
                        "status_info_count": recipients if status != "scheduled" else 0,
                        "job_run_id": run_id,
                    },
                },
                "_links": {name: {"href": href} for name in ("self", "prev", "next", "first")},
            }
        )
