"""Vonage Proactive Connect (beta) job-runs emulator, served under ``/vonage``.

A run is ``scheduled`` until its ``start_at``, ``running`` until its ``end_at``, then
``completed`` (or ``failed``, by seed); a stop makes it ``stopped``. Requests are camelCase,
responses snake_case; errors are RFC 7807 problem documents. The documents' inconsistent
prefixes (``/beta/runs``, ``/beta/jobs/runs``, ``/runs``) are all served.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from reconciler.sandbox.common import (
    ApiProblem,
    HourlyRate,
    b64url_decode,
    bearer_token,
    is_jwt,
    parse_json,
)
from reconciler.sandbox.seed import VonageSeed
from reconciler.sandbox.store import Store

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


EARLIEST = datetime(1, 1, 1, tzinfo=UTC).timestamp()
LATEST = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC).timestamp()


def iso(ts: float) -> str:
    """ISO 8601 UTC with milliseconds, the year in four digits (S3: ``2022-05-02T17:23:14.000Z``;
    strftime's ``%Y`` writes year 1 as ``1``)."""
    moment = datetime.fromtimestamp(min(max(ts, EARLIEST), LATEST), UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def parse_iso(value: Any, field: str) -> float:
    """An instant with a zone, within years 1..9999 once in UTC, to the millisecond."""
    if not isinstance(value, str):
        raise ApiProblem(400, f"{field} is required (ISO 8601 UTC)")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise ApiProblem(400, f"{field} must be UTC (end with Z)")
        parsed = parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ApiProblem(400, f"{field} is not an ISO 8601 date-time in years 1-9999") from None
    parsed = parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)
    return min(parsed.timestamp(), LATEST)


def run_status(row: sqlite3.Row, now: float) -> tuple[str, float]:
    """(status, time of the last change) at ``now``."""
    stopped = row["stopped_at"]
    if stopped is not None and stopped < row["end_at"] and now >= stopped:
        return "stopped", stopped
    if now < row["start_at"]:
        return "scheduled", row["created"]
    if now < row["end_at"]:
        return "running", row["start_at"]
    return row["outcome"], row["end_at"]


def application_jwt_problem(token: str, applications: dict[str, str], now: float) -> str | None:
    """Why an application JWT is refused (RS256 signature, ``nbf``, ``exp``), or None."""
    header_part, claims_part, signature_part = token.split(".")
    header, claims = json.loads(b64url_decode(header_part)), json.loads(b64url_decode(claims_part))
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return "The JWT is malformed"
    public_pem = applications.get(str(claims.get("application_id")))
    if public_pem is None:
        return "The JWT is not valid for this application"
    if header.get("alg") != "RS256":
        return "The JWT must be signed with RS256"
    try:
        key = serialization.load_pem_public_key(public_pem.encode())
        if not isinstance(key, rsa.RSAPublicKey):
            return "The application's key is not an RSA key"
        signed = f"{header_part}.{claims_part}".encode("ascii")
        key.verify(b64url_decode(signature_part), signed, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        return "The JWT signature does not match the application's public key"
    expires, not_before = claims.get("exp"), claims.get("nbf", 0)
    if not isinstance(expires, int) or not isinstance(not_before, int):
        return "The JWT needs numeric exp and nbf claims"
    if now >= expires:
        return "The JWT has expired"
    if now < not_before:
        return "The JWT is not valid yet"
    return None


class VonageEmulator:
    def __init__(self, store: Store, seed: VonageSeed) -> None:
        self.store = store
        self.seed = seed
        self.rate = HourlyRate(seed.rate_limit)

    def _authenticate(self, request: Request) -> str:
        token = bearer_token(request.headers.get("authorization", ""))
        if not token or not is_jwt(token):
            raise ApiProblem(401, "Invalid or missing bearer JWT")
        tokens, applications = self.seed.tokens, self.seed.applications
        if tokens is None and applications is None:
            return token
        if tokens is not None and token in tokens:
            return token
        if applications is not None:
            refused = application_jwt_problem(token, applications, time.time())
            if refused is None:
                return token
            raise ApiProblem(401, refused)
        raise ApiProblem(401, "The JWT is not valid for this application")

    def _run(self, row: sqlite3.Row, now: float) -> dict[str, Any]:
        status, updated = run_status(row, now)
        return {
            "id": row["id"],
            "job_id": row["job_id"],
            "name": row["name"],
            "status": status,
            "start_at": iso(row["start_at"]),
            "end_at": iso(row["end_at"]),
            "created_at": iso(row["created"]),
            "updated_at": iso(updated),
        }

    def _row(self, run_id: str) -> sqlite3.Row:
        rows = self.store.query("SELECT * FROM vonage_runs WHERE id = ?", (run_id,))
        if not rows:
            raise ApiProblem(404, f"Run {run_id} was not found")
        return rows[0]

    async def create(self, request: Request) -> tuple[int, Any]:
        body = parse_json(await request.body())
        if not isinstance(body, dict):
            raise ApiProblem(400, "Request body must be a JSON object")
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
        now = self.store.now()
        run_id = str(uuid.uuid4())
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO vonage_runs (id, job_id, name, start_at, end_at, created, "
                "stopped_at, outcome) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
                (run_id, job_id, body["name"], start, end, now, self.seed.outcome(job_id)),
            )
        return 201, self._run(self._row(run_id), now)

    def list(self, request: Request) -> dict[str, Any]:
        query = request.query_params
        try:
            page = int(query.get("page", 1))
            size = int(query.get("page_size", 100))
        except ValueError:
            raise ApiProblem(400, "page and page_size must be integers") from None
        if page < 1 or not 1 <= size <= 1000:
            raise ApiProblem(400, "page must be >= 1 and page_size between 1 and 1000")
        now = self.store.now()
        rows = self.store.query("SELECT * FROM vonage_runs ORDER BY seq")
        total = len(rows)
        pages = max(1, math.ceil(total / size))
        chunk = rows[(page - 1) * size : page * size]
        base = str(request.url.replace(query=""))

        def link(number: int) -> dict[str, str]:
            return {"href": f"{base}?page_size={size}&page={number}"}

        links = {"self": link(page), "first": link(1), "last": link(pages)}
        if page > 1:
            links["prev"] = link(page - 1)
        if page < pages:
            links["next"] = link(page + 1)
        return {
            "total_items": total,
            "page": page,
            "page_size": size,
            "total_pages": pages,
            "_embedded": {"runs": [self._run(r, now) for r in chunk]},
            "_links": links,
        }

    def stop(self, run_id: str) -> dict[str, Any]:
        now = self.store.now()
        with self.store.transaction() as db:
            row = db.execute("SELECT * FROM vonage_runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise ApiProblem(404, f"Run {run_id} was not found")
            status, _ = run_status(row, now)
            if status in ("completed", "failed", "stopped"):
                raise ApiProblem(409, f"Run {run_id} has already ended (status {status})")
            db.execute("UPDATE vonage_runs SET stopped_at = ? WHERE id = ?", (now, run_id))
            row = db.execute("SELECT * FROM vonage_runs WHERE id = ?", (run_id,)).fetchone()
        return self._run(row, now)

    def summary(self, request: Request, run_id: str) -> dict[str, Any]:
        row = self._row(run_id)
        now = self.store.now()
        status, _ = run_status(row, now)
        # Deterministic counts that grow while the run is live.
        live_until = min(now, row["end_at"], row["stopped_at"] or math.inf)
        elapsed = max(0.0, live_until - row["start_at"])
        recipients = int(elapsed // 60)
        failed = recipients // 10
        href = f"{request.base_url}vonage/runs/{run_id}/summary?page_size=100&page=1"
        return {
            "total_items": 2,
            "page": 1,
            "page_size": 100,
            "total_pages": 1,
            "_embedded": {
                "recipient_response": {"recipients_count": recipients // 2, "job_run_id": run_id},
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

    # -- routing -------------------------------------------------------------------------

    def mount(self) -> Mount:
        routes = [
            Route("/beta/jobs/runs", self._endpoint, methods=["POST"]),
            Route("/beta/runs", self._endpoint, methods=["GET"]),
            Route("/beta/runs/", self._endpoint, methods=["GET"]),
        ]
        for prefix in ("/beta/runs", "/beta/jobs/runs", "/runs"):
            routes += [
                Route(prefix + "/{run_id}", self._endpoint, methods=["GET"]),
                Route(prefix + "/{run_id}/stop", self._endpoint, methods=["POST"]),
                Route(prefix + "/{run_id}/summary", self._endpoint, methods=["GET"]),
            ]
        return Mount("/vonage", routes=routes)

    async def _endpoint(self, request: Request) -> Response:
        headers: dict[str, str] = {}
        try:
            token = self._authenticate(request)
            headers = self.rate.count(token)
            status, body = await self._dispatch(request)
        except ApiProblem as problem:
            problem.headers = {**headers, **problem.headers}
            return self.problem_response(request, problem)
        return JSONResponse(body, status, headers)

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

    async def _dispatch(self, request: Request) -> tuple[int, Any]:
        path = request.url.path.removeprefix("/vonage")
        run_id = request.path_params.get("run_id")
        if request.method == "POST" and run_id is None:
            return await self.create(request)
        if run_id is None:
            return 200, self.list(request)
        if path.endswith("/stop"):
            return 200, self.stop(run_id)
        if path.endswith("/summary"):
            return 200, self.summary(request, run_id)
        return 200, self._run(self._row(run_id), self.store.now())
