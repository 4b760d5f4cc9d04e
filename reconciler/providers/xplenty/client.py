"""Integrate.io (Xplenty) ETL jobs adapter.

Base ``{base_url}/{account}/api``; Basic auth with the API key as user name; the versioned
Accept header on every call; ``{"message": ...}`` errors. Our run key rides in the reserved
job variable ``RECONCILER_RUN_KEY`` (as a quoted Pig literal), echoed in every Job.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypedDict

import httpx

from reconciler.errors import InvalidRequestError
from reconciler.providers.base import (
    Listing,
    LogLines,
    ObservedRun,
    ProviderContext,
    RunFailure,
    RunStatus,
    StartCall,
    StartRequest,
    stop_unless_ended,
)
from reconciler.providers.http import HttpAdapter, instance_client
from reconciler.providers.xplenty.job import RUN_KEY_VARIABLE
from reconciler.spec.models import RateLimit

ACCEPT = "application/vnd.xplenty+json; version=2"
PAGE_SIZE = 100  # the API's maximum

STATUS_MAP: dict[str, RunStatus] = {
    "idle": RunStatus.PENDING,
    "pending": RunStatus.PENDING,
    "queued": RunStatus.PENDING,
    "running": RunStatus.RUNNING,
    "completed": RunStatus.SUCCEEDED,
    "failed": RunStatus.FAILED,
    "pending_stoppage": RunStatus.STOPPING,
    "stopping": RunStatus.STOPPING,
    "stopped": RunStatus.STOPPED,
}


class JobPayload(TypedDict, total=False):
    """The fields of an API Job that we read."""

    id: int
    status: str
    variables: dict[str, Any]
    created_at: str | None
    started_at: str | None
    completed_at: str | None
    failed_at: str | None
    errors: str | None
    progress: float | None
    runtime_in_seconds: int | None


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def quote_key(key: str) -> str:
    return f"'{key}'"


def unquote_key(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == "'" else value


def to_observed(job: JobPayload) -> ObservedRun:
    api_status = job.get("status", "")
    ended = job.get("completed_at") or job.get("failed_at")
    return ObservedRun(
        run_id=str(job["id"]),
        run_key=unquote_key((job.get("variables") or {}).get(RUN_KEY_VARIABLE)),
        status=STATUS_MAP.get(api_status, RunStatus.UNKNOWN),
        api_status=api_status,
        started_at=parse_time(job.get("started_at")),
        ended_at=parse_time(ended),
        created_at=parse_time(job.get("created_at")),
        failure=_failure(job),
        progress=_number(job.get("progress")),
        elapsed=_seconds(job.get("runtime_in_seconds")),
    )


def _failure(job: JobPayload) -> RunFailure | None:
    """A failed job's ``errors`` (the API's account; ``log_summary`` would cost a call a job)."""
    if job.get("status") != "failed":
        return None
    return RunFailure("job failed", str(job.get("errors") or "") or None)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return min(1.0, max(0.0, float(value)))


def _seconds(value: object) -> timedelta | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e9:
        return None
    return timedelta(seconds=value)


class XplentyProvider(HttpAdapter):
    def __init__(
        self, context: ProviderContext, *, rate_limit_default: RateLimit | None = None
    ) -> None:
        config = context.config
        self.instance = context.instance
        base = f"{config.base_url.rstrip('/')}/{config.account}/api"
        self._http = instance_client(
            context,
            f"{context.instance} (xplenty)",
            base_url=base,
            headers={"Accept": ACCEPT},
            auth=httpx.BasicAuth(context.credentials.get("api_key", ""), ""),
            rate_limit_default=rate_limit_default,
        )

    def start_call(self, request: StartRequest) -> StartCall:
        job = dict(request.job)
        body = {
            "cluster_id": job["cluster_id"],
            "package_id": job["package_id"],
            "variables": {**job.get("variables", {}), RUN_KEY_VARIABLE: quote_key(request.run_key)},
            "dynamic_variables": job.get("dynamic_variables", {}),
        }
        return StartCall("POST", "/jobs", body)

    async def start(self, request: StartRequest) -> ObservedRun:
        call = self.start_call(request)
        response = await self._http.request(call.method, call.path, json=call.body)
        return to_observed(response.json())

    async def list_runs(self, *, since: datetime | None, scopes: Collection[str] = ()) -> Listing:
        """Every job of the account updated at or after ``since`` (all when None)."""
        return await self.list_jobs(since=since)

    async def list_jobs(
        self,
        *,
        since: datetime | None = None,
        status: str | None = None,
        package_id: int | None = None,
    ) -> Listing:
        """``GET /jobs`` with the API's filters, following ``Link: rel="next"`` to the end.

        Sorted by creation, oldest first: new jobs append at the end, so offsets stay stable
        while we page.
        """
        first: dict[str, str | int] = {
            "limit": PAGE_SIZE,
            "offset": 0,
            "sort": "created",
            "direction": "asc",
        }
        if since is not None:
            first["since"] = since.strftime("%Y-%m-%dT%H:%M:%SZ")
        if status is not None:
            first["status"] = status
        if package_id is not None:
            first["package_id"] = package_id
        params: dict[str, str | int] | None = first
        runs: list[ObservedRun] = []
        server_time: datetime | None = None
        url: str | None = "/jobs"
        while url is not None:
            response = await self._http.request("GET", url, params=params)
            server_time = server_time or _server_time(response)
            runs.extend(to_observed(job) for job in response.json())
            url = response.links.get("next", {}).get("url")
            params = None  # the next link carries the whole query
        return Listing(runs=runs, server_time=server_time)

    async def get_run(self, run_id: str) -> ObservedRun:
        response = await self._http.request("GET", f"/jobs/{run_id}")
        return to_observed(response.json())

    async def stop_run(self, run_id: str, job: Mapping[str, Any] | None = None) -> ObservedRun:
        """Terminate: only triggers the stop (``pending_stoppage``); a finished job is returned."""

        async def terminate() -> ObservedRun:
            response = await self._http.request("DELETE", f"/jobs/{run_id}")
            return to_observed(response.json())

        return await stop_unless_ended(terminate, lambda: self.get_run(run_id), InvalidRequestError)

    async def rate_limit_status(self) -> tuple[int, int]:
        """``(limit, remaining)`` from the free ``GET /rate_limit_status``."""
        response = await self._http.request("GET", "/rate_limit_status")
        limits = response.json()["limits"]
        return int(limits["limit"]), int(limits["remaining"])

    async def details(self, run_id: str) -> str | None:
        return None  # status and times are already in every listing

    async def logs(self, run_id: str, after: int) -> LogLines:
        """``GET /jobs/{id}/log``: the whole log (``{body, url}``) each time."""
        response = await self._http.request("GET", f"/jobs/{run_id}/log")
        answer = response.json()
        body = answer.get("body") if isinstance(answer, dict) else None
        lines = str(body or "").splitlines()
        return LogLines(tuple(lines[after:]), max(after, len(lines)))


def _server_time(response: httpx.Response) -> datetime | None:
    value = response.headers.get("Date")
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
