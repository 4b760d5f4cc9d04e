"""Integrate.io (Xplenty) emulator, served under ``/xplenty/{account_id}/api/``."""

from __future__ import annotations

import base64
import json
import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from reconciler.sandbox.common import INT64_MAX, ApiProblem
from reconciler.sandbox.emulator import Emulator, Endpoint, Handler, endpoint
from reconciler.sandbox.paging import Page
from reconciler.sandbox.store import Store
from reconciler.sandbox.xplenty import parsing
from reconciler.sandbox.xplenty.model import (
    STATUSES,
    TABLES,
    TERMINAL,
    UPDATED_SQL,
    item_document,
    job_document,
    job_state,
)
from reconciler.sandbox.xplenty.seed import XplentySeed

MEDIA_TYPE = "application/vnd.xplenty+json; version=2"


class XplentyEmulator(Emulator[XplentySeed]):
    name = "xplenty"
    seed_model = XplentySeed
    tables = TABLES
    base = "/{account}/api"
    media_type = MEDIA_TYPE

    def __init__(self, store: Store, seed: XplentySeed) -> None:
        super().__init__(store, seed)
        if seed.accounts is None:
            return
        with store.transaction() as db:
            for name, account in seed.accounts.items():
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

    def endpoints(self) -> list[Endpoint]:
        return [
            endpoint("/jobs", GET=self.list_jobs, POST=self.create_job),
            endpoint("/jobs/{job_id:int}", GET=self.get_job, DELETE=self.terminate_job),
            endpoint("/jobs/{job_id:int}/variables", GET=self.variables),
            endpoint("/jobs/{job_id:int}/log", GET=self.log),
            endpoint("/clusters", GET=self._items("clusters")),
            endpoint("/clusters/{item_id:int}", GET=self._item("clusters")),
            endpoint("/packages", GET=self._items("packages")),
            endpoint("/packages/{item_id:int}", GET=self._item("packages")),
            endpoint("/rate_limit_status", counted=False, GET=self.rate_limit_status),
        ]

    def authenticate(self, request: Request) -> str:
        if self.seed.strict_accept and "application/vnd.xplenty+json" not in request.headers.get(
            "accept", ""
        ):
            raise ApiProblem(
                404, "Not found: missing Accept: application/vnd.xplenty+json; version=2"
            )
        account = request.path_params["account"]
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

    def problem_response(self, request: Request, problem: ApiProblem) -> Response:
        """``{"message": ...}`` (S1 ``components.schemas.Error``)."""
        return self.json({"message": problem.message}, problem.status, problem.headers)

    # -- jobs ----------------------------------------------------------------------------

    def _job(self, request: Request, row: sqlite3.Row, now: float) -> dict[str, Any]:
        base = self.url(request, f"/{request.path_params['account']}/api")
        return job_document(base, f"{str(request.base_url).rstrip('/')}/sandbox", row, now)

    def _row(self, request: Request) -> sqlite3.Row:
        account, job_id = request.path_params["account"], request.path_params["job_id"]
        rows = self.store.query(
            "SELECT * FROM xplenty_jobs WHERE account = ? AND id = ?",
            (account, parsing.known_id(job_id)),
        )
        if not rows:
            raise ApiProblem(404, "Item not found.")
        return rows[0]

    async def create_job(self, request: Request) -> Response:
        account = request.path_params["account"]
        body = await parsing.job_body(request)
        cluster_id = parsing.positive_int(body.get("cluster_id"), "cluster_id")
        package_id = parsing.positive_int(body.get("package_id"), "package_id")
        variables = parsing.string_map(body.get("variables"), "variables")
        dynamic = parsing.string_map(body.get("dynamic_variables"), "dynamic_variables")
        profile = self.seed.profile(package_id)
        now = self.now()
        with self.store.transaction() as db:
            for table, item in (("xplenty_clusters", cluster_id), ("xplenty_packages", package_id)):
                self._ensure_item(db, account, table, item)
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
        return self.json(self._job(request, row, now), 201)

    def _ensure_item(self, db: sqlite3.Connection, account: str, table: str, item: int) -> None:
        """A cluster or package a job names exists (in auto mode, it is created)."""
        exists = (
            item <= INT64_MAX
            and db.execute(
                f"SELECT 1 FROM {table} WHERE account = ? AND id = ?", (account, item)
            ).fetchone()
        )
        if not exists and self.seed.accounts is None and item <= INT64_MAX:
            db.execute(f"INSERT INTO {table} VALUES (?, ?, ?)", (account, item, f"auto-{item}"))
        elif not exists:
            noun = table.removeprefix("xplenty_").rstrip("s")
            raise ApiProblem(422, f"{noun.capitalize()} {item} does not exist")

    async def list_jobs(self, request: Request) -> Response:
        query = request.query_params
        page = parsing.page(request)
        status = query.get("status", "all")
        if status != "all" and status not in STATUSES:
            raise ApiProblem(400, f"Invalid status filter: {status}")
        sort = query.get("sort", "created")
        direction = query.get("direction", "desc")
        if sort not in ("created", "updated") or direction not in ("asc", "desc"):
            raise ApiProblem(400, "sort must be created|updated and direction asc|desc")
        since = parsing.since(query.get("since"))
        where = "FROM xplenty_jobs WHERE account = :account"
        bound: dict[str, str | int | float] = {"account": request.path_params["account"]}
        if query.get("package_id"):
            package_id = parsing.positive_int(query["package_id"], "package_id")
            where += " AND package_id = :package_id"
            bound["package_id"] = package_id if package_id <= INT64_MAX else -1  # no job has it
        now = self.now()
        if status == "all" and sort == "created":  # the listing a client pages: in SQLite
            return self._jobs_by_creation(request, page, where, bound, since, direction, now)
        rows = [(row, job_state(row, now)) for row in self.store.query(f"SELECT * {where}", bound)]
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
        jobs = [self._job(request, row, now) for row, _ in page.of(rows)]
        return self.json(jobs, headers=parsing.link_header(request, page, len(rows)))

    def _jobs_by_creation(
        self,
        request: Request,
        page: Page,
        where: str,
        bound: dict[str, str | int | float],
        since: float | None,
        direction: str,
        now: float,
    ) -> Response:
        """The page, and the count, filtered and ordered by SQLite: what the general path
        does in Python, without timing every job of the account for each page."""
        if since is not None:
            where += f" AND {UPDATED_SQL} >= :since"
            bound = {**bound, "since": since, "now": now}
        total = int(self.store.query(f"SELECT COUNT(*) AS n {where}", bound)[0]["n"])
        order = "DESC" if direction == "desc" else "ASC"
        rows = self.store.query(
            f"SELECT * {where} ORDER BY created {order}, id {order} LIMIT :limit OFFSET :offset",
            {**bound, "limit": page.size, "offset": page.offset},
        )
        jobs = [self._job(request, row, now) for row in rows]
        return self.json(jobs, headers=parsing.link_header(request, page, total))

    def _job_at_now(self, request: Request) -> dict[str, Any]:
        job = self._job(request, self._row(request), self.now())
        if request.query_params.get("include") == "log_summary":
            job["log_summary"] = {
                "id": job["id"],
                "body": f"sandbox log of job {job['id']}: {job['status']}",
                "error_summary": job["errors"] or None,
                "action_items": [],
                "created_at": job["updated_at"],
            }
        return job

    async def get_job(self, request: Request) -> Response:
        return self.json(self._job_at_now(request))

    async def variables(self, request: Request) -> Response:
        return self.json(self._job_at_now(request)["variables"])

    async def log(self, request: Request) -> Response:
        job = self._job_at_now(request)
        return self.json({"body": "\n".join(log_lines(job)), "url": job["log_url"]})

    async def terminate_job(self, request: Request) -> Response:
        account = request.path_params["account"]
        job_id = parsing.known_id(request.path_params["job_id"])
        now = self.now()
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
        return self.json(self._job(request, row, now))

    # -- clusters, packages, rate limit --------------------------------------------------

    def _items(self, noun: str) -> Handler:
        async def list_items(request: Request) -> Response:
            page = parsing.page(request)
            rows = self.store.query(
                f"SELECT * FROM xplenty_{noun} WHERE account = ? ORDER BY id",
                (request.path_params["account"],),
            )
            base = self.url(request, f"/{request.path_params['account']}/api")
            items = [item_document(base, noun, row) for row in rows]
            return self.json(page.of(items), headers=parsing.link_header(request, page, len(items)))

        return list_items

    def _item(self, noun: str) -> Handler:
        async def get_item(request: Request) -> Response:
            account = request.path_params["account"]
            item_id = parsing.known_id(request.path_params["item_id"])
            rows = self.store.query(
                f"SELECT * FROM xplenty_{noun} WHERE account = ? AND id = ?", (account, item_id)
            )
            if not rows:
                raise ApiProblem(404, "Item not found.")
            return self.json(item_document(self.url(request, f"/{account}/api"), noun, rows[0]))

        return get_item

    async def rate_limit_status(self, request: Request) -> Response:
        rate = self.rate.count(self.credential(request), counted=False)
        limits = {
            "limit": int(rate["X-RateLimit-Limit"]),
            "remaining": int(rate["X-RateLimit-Remaining"]),
        }
        return self.json({"limits": limits})


def log_lines(job: dict[str, Any]) -> list[str]:
    """The log a job has written so far: one line per step it has reached."""
    lines = [f"job {job['id']} created at {job['created_at']}"]
    if job.get("started_at"):
        lines.append(
            f"job {job['id']} started on cluster {job['cluster_id']} at {job['started_at']}"
        )
    if job.get("errors"):
        lines.append(f"error: {job['errors']}")
    if job["status"] in TERMINAL:
        ended = job.get("completed_at") or job.get("failed_at") or ""
        lines.append(f"job {job['id']} {job['status']} {ended}".rstrip())
    return lines
