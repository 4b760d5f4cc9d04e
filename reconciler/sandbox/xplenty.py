"""Integrate.io (Xplenty) emulator, served under ``/xplenty/{account_id}/api/``.

Jobs move through the API's statuses on the sandbox clock: idle -> pending -> running ->
completed | failed; a terminate moves them pending_stoppage -> stopping -> stopped. Status is
derived from the clock when read, so no background task is needed.
"""

from __future__ import annotations

import base64
import json
import math
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from reconciler.sandbox.common import INT64_MAX, ApiProblem, HourlyRate, is_int, parse_json
from reconciler.sandbox.seed import XplentySeed
from reconciler.sandbox.store import Store

MEDIA_TYPE = "application/vnd.xplenty+json; version=2"
TERMINAL = frozenset({"completed", "failed", "stopped"})
STATUSES = frozenset(
    {
        "idle",
        "pending",
        "queued",
        "running",
        "completed",
        "failed",
        "pending_stoppage",
        "stopping",
        "stopped",
    }
)


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class JobState:
    status: str
    updated: float
    started: float | None
    ended: float | None


def job_state(row: sqlite3.Row, now: float) -> JobState:
    """The job's status at ``now``, derived from its creation time, durations and stop time."""
    created = row["created"]
    begin_running = created + row["t_idle"] + row["t_pending"]
    finish = begin_running + row["t_running"]
    steps = [
        (created, "idle"),
        (created + row["t_idle"], "pending"),
        (begin_running, "running"),
        (finish, row["outcome"]),
    ]
    stop_at = row["stop_at"]
    if stop_at is not None and stop_at < finish:
        steps = [s for s in steps if s[0] <= stop_at] + [
            (stop_at, "pending_stoppage"),
            (stop_at + row["t_stop_pending"], "stopping"),
            (stop_at + row["t_stop_pending"] + row["t_stopping"], "stopped"),
        ]
    reached = [s for s in steps if s[0] <= now] or steps[:1]
    updated, status = reached[-1]
    started = begin_running if any(name == "running" for _, name in reached) else None
    ended = updated if status in TERMINAL else None
    return JobState(status=status, updated=updated, started=started, ended=ended)


class XplentyEmulator:
    def __init__(self, store: Store, seed: XplentySeed) -> None:
        self.store = store
        self.seed = seed
        self.rate = HourlyRate(seed.rate_limit)
        self._install_seed()

    # -- seed and auth -------------------------------------------------------------------

    def _install_seed(self) -> None:
        if self.seed.accounts is None:
            return
        with self.store.transaction() as db:
            for name, account in self.seed.accounts.items():
                db.execute(
                    "INSERT OR REPLACE INTO xplenty_accounts VALUES (?, ?)",
                    (name, json.dumps(account.api_keys)),
                )
                for table, items in (
                    ("xplenty_clusters", account.clusters),
                    ("xplenty_packages", account.packages),
                ):
                    for item in items:
                        db.execute(
                            f"INSERT OR REPLACE INTO {table} VALUES (?, ?, ?)",
                            (name, item.id, item.name),
                        )

    def _authenticate(self, request: Request, account: str) -> str:
        header = request.headers.get("authorization", "")
        key = ""
        if header.lower().startswith("basic "):
            try:
                key = base64.b64decode(header[6:]).decode().partition(":")[0]
            except (ValueError, UnicodeDecodeError):
                key = ""
        if not key:
            raise ApiProblem(401, "Unauthorized: missing or malformed API key")
        if self.seed.accounts is None:
            with self.store.transaction() as db:
                db.execute("INSERT OR IGNORE INTO xplenty_accounts VALUES (?, ?)", (account, "[]"))
            return key
        if account not in self.seed.accounts:
            raise ApiProblem(404, f"Account {account} not found")
        if key not in self.seed.accounts[account].api_keys:
            raise ApiProblem(401, "Unauthorized: invalid API key")
        return key

    # -- representation ------------------------------------------------------------------

    def _job(self, request: Request, account: str, row: sqlite3.Row, now: float) -> dict[str, Any]:
        state = job_state(row, now)
        base = f"{request.base_url}xplenty/{account}/api".replace("//xplenty", "/xplenty")
        progress = 0.0
        if state.status == "completed":
            progress = 1.0
        elif state.started is not None and row["t_running"] > 0:
            progress = min(1.0, (min(now, state.ended or now) - state.started) / row["t_running"])
        runtime = int((state.ended or now) - state.started) if state.started else 0
        job_id = row["id"]
        return {
            "id": job_id,
            "status": state.status,
            "variables": json.loads(row["variables"]),
            "dynamic_variables": json.loads(row["dynamic_variables"]),
            "owner_id": 1,
            "progress": round(progress, 3),
            "outputs_count": 0,
            "outputs": [],
            "started_at": iso(state.started),
            "created_at": iso(row["created"]),
            "updated_at": iso(state.updated),
            "failed_at": iso(state.ended) if state.status == "failed" else None,
            "completed_at": iso(state.ended),
            "cluster_id": row["cluster_id"],
            "package_id": row["package_id"],
            "errors": "Job failed (sandbox outcome)" if state.status == "failed" else "",
            "runtime_in_seconds": runtime,
            "url": f"{base}/jobs/{job_id}",
            "html_url": f"{request.base_url}sandbox/jobs/{job_id}",
            "log_url": f"{base}/jobs/{job_id}/log",
            "creator": {
                "type": "User",
                "id": 1,
                "display_name": "Sandbox User",
                "url": f"{base}/user",
            },
            "cluster": {"id": row["cluster_id"], "url": f"{base}/clusters/{row['cluster_id']}"},
            "package": {"id": row["package_id"], "url": f"{base}/packages/{row['package_id']}"},
        }

    # -- endpoints -----------------------------------------------------------------------

    async def create_job(self, request: Request, account: str) -> tuple[int, Any]:
        body = await _job_body(request)
        cluster_id = _positive_int(body.get("cluster_id"), "cluster_id")
        package_id = _positive_int(body.get("package_id"), "package_id")
        variables = _string_map(body.get("variables"), "variables")
        dynamic = _string_map(body.get("dynamic_variables"), "dynamic_variables")
        profile = self.seed.profile(package_id)
        now = self.store.now()
        with self.store.transaction() as db:
            for table, item in (("xplenty_clusters", cluster_id), ("xplenty_packages", package_id)):
                exists = (
                    item <= INT64_MAX
                    and db.execute(
                        f"SELECT 1 FROM {table} WHERE account = ? AND id = ?", (account, item)
                    ).fetchone()
                )
                if not exists and self.seed.accounts is None and item <= INT64_MAX:
                    db.execute(
                        f"INSERT INTO {table} VALUES (?, ?, ?)", (account, item, f"auto-{item}")
                    )
                elif not exists:
                    noun = table.removeprefix("xplenty_").rstrip("s")
                    raise ApiProblem(422, f"{noun.capitalize()} {item} does not exist")
            cursor = db.execute(
                "INSERT INTO xplenty_jobs (account, cluster_id, package_id, variables, "
                "dynamic_variables, created, t_idle, t_pending, t_running, outcome, stop_at, "
                "t_stop_pending, t_stopping) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
                (
                    account,
                    cluster_id,
                    package_id,
                    json.dumps(variables),
                    json.dumps(dynamic),
                    now,
                    profile.idle,
                    profile.pending,
                    profile.running,
                    profile.outcome,
                    self.seed.stop.pending_stoppage,
                    self.seed.stop.stopping,
                ),
            )
            row = db.execute(
                "SELECT * FROM xplenty_jobs WHERE id = ?", (cursor.lastrowid,)
            ).fetchone()
        return 201, self._job(request, account, row, now)

    def list_jobs(
        self, request: Request, account: str
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        query = request.query_params
        offset, limit = _page(query.get("offset"), query.get("limit"))
        status = query.get("status", "all")
        if status != "all" and status not in STATUSES:
            raise ApiProblem(400, f"Invalid status filter: {status}")
        sort = query.get("sort", "created")
        direction = query.get("direction", "desc")
        if sort not in ("created", "updated") or direction not in ("asc", "desc"):
            raise ApiProblem(400, "sort must be created|updated and direction asc|desc")
        since = _parse_since(query.get("since"))
        sql = "SELECT * FROM xplenty_jobs WHERE account = ?"
        params: list[str | int] = [account]
        if query.get("package_id"):
            package_id = _positive_int(query["package_id"], "package_id")
            sql += " AND package_id = ?"
            params.append(package_id if package_id <= INT64_MAX else -1)  # no job has it
        now = self.store.now()
        rows = [(row, job_state(row, now)) for row in self.store.query(sql, tuple(params))]
        rows = [
            (row, state)
            for row, state in rows
            if (status == "all" or state.status == status)
            and (since is None or state.updated >= since)
        ]
        rows.sort(
            key=lambda pair: (
                pair[0]["created"] if sort == "created" else pair[1].updated,
                pair[0]["id"],
            ),
            reverse=direction == "desc",
        )
        page = rows[offset : offset + limit]
        links = _link_header(request, offset, limit, len(rows))
        return [self._job(request, account, row, now) for row, _ in page], links

    def get_job(self, request: Request, account: str, job_id: int) -> dict[str, Any]:
        row = self._row(account, job_id)
        job = self._job(request, account, row, self.store.now())
        if request.query_params.get("include") == "log_summary":
            job["log_summary"] = {
                "id": job_id,
                "body": f"sandbox log of job {job_id}: {job['status']}",
                "error_summary": job["errors"] or None,
                "action_items": [],
                "created_at": job["updated_at"],
            }
        return job

    def terminate_job(self, request: Request, account: str, job_id: int) -> dict[str, Any]:
        _known_id(job_id)
        now = self.store.now()
        with self.store.transaction() as db:
            row = db.execute(
                "SELECT * FROM xplenty_jobs WHERE account = ? AND id = ?", (account, job_id)
            ).fetchone()
            if row is None:
                raise ApiProblem(404, "Item not found.")
            state = job_state(row, now)
            if state.status in TERMINAL:
                raise ApiProblem(422, f"Job can't be stopped in status {state.status}")
            if row["stop_at"] is None:
                db.execute("UPDATE xplenty_jobs SET stop_at = ? WHERE id = ?", (now, job_id))
            row = db.execute("SELECT * FROM xplenty_jobs WHERE id = ?", (job_id,)).fetchone()
        return self._job(request, account, row, now)

    def _row(self, account: str, job_id: int) -> sqlite3.Row:
        _known_id(job_id)
        rows = self.store.query(
            "SELECT * FROM xplenty_jobs WHERE account = ? AND id = ?", (account, job_id)
        )
        if not rows:
            raise ApiProblem(404, "Item not found.")
        return rows[0]

    def _items(
        self, request: Request, account: str, table: str, noun: str
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        offset, limit = _page(request.query_params.get("offset"), request.query_params.get("limit"))
        rows = self.store.query(f"SELECT * FROM {table} WHERE account = ? ORDER BY id", (account,))
        items = [self._item(request, account, noun, row) for row in rows]
        return items[offset : offset + limit], _link_header(request, offset, limit, len(items))

    def _item(self, request: Request, account: str, noun: str, row: sqlite3.Row) -> dict[str, Any]:
        base = f"{request.base_url}xplenty/{account}/api"
        item: dict[str, Any] = {
            "id": row["id"],
            "name": row["name"],
            "url": f"{base}/{noun}/{row['id']}",
        }
        if noun == "clusters":
            item["status"] = "available"
        return item

    # -- routing -------------------------------------------------------------------------

    def mount(self) -> Mount:
        return Mount(
            "/xplenty/{account}/api",
            routes=[
                Route("/jobs", self._endpoint, methods=["GET", "POST"]),
                Route("/jobs/{job_id:int}", self._endpoint, methods=["GET", "DELETE"]),
                Route("/jobs/{job_id:int}/variables", self._endpoint, methods=["GET"]),
                Route("/jobs/{job_id:int}/log", self._endpoint, methods=["GET"]),
                Route("/clusters", self._endpoint, methods=["GET"]),
                Route("/clusters/{item_id:int}", self._endpoint, methods=["GET"]),
                Route("/packages", self._endpoint, methods=["GET"]),
                Route("/packages/{item_id:int}", self._endpoint, methods=["GET"]),
                Route("/rate_limit_status", self._endpoint, methods=["GET"]),
            ],
        )

    async def _endpoint(self, request: Request) -> Response:
        account = request.path_params["account"]
        headers: dict[str, str] = {}
        try:
            if (
                self.seed.strict_accept
                and "application/vnd.xplenty+json" not in request.headers.get("accept", "")
            ):
                raise ApiProblem(
                    404, "Not found: missing Accept: application/vnd.xplenty+json; version=2"
                )
            key = self._authenticate(request, account)
            free = request.url.path.endswith("/rate_limit_status")
            headers = self.rate.count(key, counted=not free)
            status, body, extra = await self._dispatch(request, account, headers)
            headers.update(extra)
        except ApiProblem as problem:
            problem.headers = {**headers, **problem.headers}
            return self.problem_response(request, problem)
        return JSONResponse(body, status, headers, MEDIA_TYPE)

    def problem_response(self, request: Request, problem: ApiProblem) -> Response:
        """``{"message": ...}`` (S1 ``components.schemas.Error``)."""
        body = {"message": problem.message}
        return JSONResponse(body, problem.status, problem.headers, MEDIA_TYPE)

    async def _dispatch(
        self, request: Request, account: str, rate: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        path = request.url.path.split("/api", 1)[1]
        params = request.path_params
        method = request.method
        if path == "/jobs" and method == "POST":
            status, job = await self.create_job(request, account)
            return status, job, {}
        if path == "/jobs":
            jobs, links = self.list_jobs(request, account)
            return 200, jobs, links
        if path.startswith("/jobs/") and path.endswith("/variables"):
            return 200, self.get_job(request, account, params["job_id"])["variables"], {}
        if path.startswith("/jobs/") and path.endswith("/log"):
            job = self.get_job(request, account, params["job_id"])
            return (
                200,
                {"body": f"sandbox log: job {job['id']} {job['status']}", "url": job["log_url"]},
                {},
            )
        if path.startswith("/jobs/") and method == "DELETE":
            return 200, self.terminate_job(request, account, params["job_id"]), {}
        if path.startswith("/jobs/"):
            return 200, self.get_job(request, account, params["job_id"]), {}
        if path == "/rate_limit_status":
            limit = int(rate["X-RateLimit-Limit"])
            return (
                200,
                {"limits": {"limit": limit, "remaining": int(rate["X-RateLimit-Remaining"])}},
                {},
            )
        noun = "clusters" if path.startswith("/clusters") else "packages"
        table = f"xplenty_{noun}"
        if "item_id" in params:
            _known_id(params["item_id"])
            rows = self.store.query(
                f"SELECT * FROM {table} WHERE account = ? AND id = ?", (account, params["item_id"])
            )
            if not rows:
                raise ApiProblem(404, "Item not found.")
            return 200, self._item(request, account, noun, rows[0]), {}
        items, links = self._items(request, account, table, noun)
        return 200, items, links


async def _job_body(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        form = parse_qsl((await request.body()).decode("utf-8", "replace"))
        body: dict[str, Any] = {"variables": {}, "dynamic_variables": {}}
        for name, value in form:
            if name.startswith("job[variables][") or name.startswith("job[dynamic_variables]["):
                group, _, var = name[4:].partition("][")
                body[group][var.rstrip("]")] = value
            elif name.startswith("job[") and name.endswith("]"):
                body[name[4:-1]] = value
        return body
    data = parse_json(await request.body())
    if not isinstance(data, dict):
        raise ApiProblem(400, "Request body must be a JSON object")
    return data.get("job", data) if isinstance(data.get("job"), dict) else data


def _positive_int(value: Any, name: str) -> int:
    """A JSON integer, or the digits of one (form fields and query parameters are text)."""
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,30}", value.strip()):
        value = int(value)
    if not is_int(value):
        raise ApiProblem(422, f"{name} is missing or not an integer")
    if value <= 0:
        raise ApiProblem(422, f"{name} must be a positive integer")
    return int(value)


def _known_id(item_id: int) -> None:
    """Ids are 64-bit: a larger one names nothing (and would overflow the database)."""
    if item_id > INT64_MAX:
        raise ApiProblem(404, "Item not found.")


def _string_map(value: Any, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ApiProblem(422, f"{name} must be an object of strings")
    return {str(k): v for k, v in value.items()}


def _page(offset: str | None, limit: str | None) -> tuple[int, int]:
    try:
        start = int(offset or 0)
        size = int(limit or 20)
    except ValueError:
        raise ApiProblem(400, "offset and limit must be integers") from None
    if start < 0 or not 1 <= size <= 100:
        raise ApiProblem(400, "offset must be >= 0 and limit between 1 and 100")
    return start, size


def _parse_since(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ApiProblem(400, f"Invalid since: {value} (expected ISO8601 UTC)") from None


def _link_header(request: Request, offset: int, limit: int, total: int) -> dict[str, str]:
    links = []
    params = dict(request.query_params)

    def url(new_offset: int) -> str:
        query = urlencode({**params, "offset": new_offset, "limit": limit})
        return f"{request.url.replace(query=query)}"

    if offset + limit < total:
        links.append(f'<{url(offset + limit)}>; rel="next"')
    if offset > 0:
        links.append(f'<{url(max(0, offset - limit))}>; rel="prev"')
    last = max(0, math.ceil(total / limit) - 1) * limit
    if total > limit:
        links.append(f'<{url(last)}>; rel="last"')
    return {"Link": ", ".join(links)} if links else {}
