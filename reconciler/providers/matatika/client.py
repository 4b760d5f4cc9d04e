"""Matatika pipeline-jobs adapter.

Bearer token (a ready one, or from the client-credentials grant); Spring HAL collections
(``page``/``size``, 0-based); zone-less timestamps (UTC); Spring error bodies. A pipeline runs
one job at a time and a job cannot carry our key: the planner waits while a pipeline is busy
and adopts by the journal's snapshot after a crash.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any, TypedDict

import httpx

from reconciler.errors import ConflictError
from reconciler.providers.base import (
    Listing,
    LogLines,
    ObservedRun,
    ProviderContext,
    RunFailure,
    RunStatus,
    StartCall,
    StartRequest,
)
from reconciler.providers.http import (
    HttpAdapter,
    instance_client,
    json_message,
    json_object,
    sent_at,
)
from reconciler.providers.matatika.job import MatatikaOptions
from reconciler.providers.token_auth import Exchange, TokenExchangeAuth

PAGE_SIZE = 100

STATUS_MAP: dict[str, RunStatus] = {
    "QUEUED": RunStatus.PENDING,
    "RUNNING": RunStatus.RUNNING,
    "COMPLETE": RunStatus.SUCCEEDED,
    "ERROR": RunStatus.FAILED,
    "STOPPED": RunStatus.STOPPED,
    "UNKNOWN": RunStatus.UNKNOWN,  # seed era: indeterminate, so never treated as ended
}


class JobPayload(TypedDict, total=False):
    id: str
    status: str
    created: str | None
    startTime: str | None
    endTime: str | None
    exitCode: int | None
    exitMessage: str | None
    errorMessage: str | None
    taskName: str | None
    _embedded: dict[str, Any]


def parse_time(value: str | None) -> datetime | None:
    """Matatika's timestamps carry no zone; they are UTC."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def to_observed(job: JobPayload, pipeline_id: str | None = None) -> ObservedRun:
    api_status = job.get("status", "")
    pipeline = (job.get("_embedded") or {}).get("pipeline") or {}
    return ObservedRun(
        run_id=job["id"],
        run_key=None,
        status=STATUS_MAP.get(api_status, RunStatus.UNKNOWN),
        api_status=api_status,
        started_at=parse_time(job.get("startTime")),
        ended_at=parse_time(job.get("endTime")),
        created_at=parse_time(job.get("created")),
        scope=str(pipeline.get("id") or pipeline_id or "") or None,
        failure=_failure(job),
    )


def _failure(job: JobPayload) -> RunFailure | None:
    """An ``ERROR`` job's ``exitCode``, and, with ``enable-task-details: true`` (the 2021 API),
    its ``taskName`` and ``errorMessage`` (else ``exitMessage``)."""
    if job.get("status") != "ERROR":
        return None
    task = job.get("taskName")
    code = job.get("exitCode")
    message = job.get("errorMessage") or job.get("exitMessage")
    return RunFailure(
        f"task {task} failed" if isinstance(task, str) and task else "job failed",
        str(message) if message else None,
        code if isinstance(code, int) and not isinstance(code, bool) else None,
    )


def oauth_message(response: httpx.Response) -> str:
    """An OAuth error answer: ``error_description``, else ``error``."""
    body = json_object(response)
    if body is not None and (body.get("error_description") or body.get("error")):
        return str(body.get("error_description") or body.get("error"))
    return json_message(response)


def client_credentials(url: str, client_id: str, client_secret: str, audience: str) -> Exchange:
    """The Auth0 client-credentials grant Matatika uses for API clients."""
    body = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": client_secret,
        "audience": audience,
    }

    def read(response: httpx.Response) -> tuple[str, float | None]:
        answer = response.json()
        lifetime = answer.get("expires_in")
        return str(answer["access_token"]), float(lifetime) if lifetime is not None else None

    return Exchange(
        request=lambda: httpx.Request("POST", url, json=body),
        read=read,
        name="token",
        message=oauth_message,
    )


class MatatikaProvider(HttpAdapter):
    def __init__(self, context: ProviderContext) -> None:
        config = context.config
        self.instance = context.instance
        self._options = (
            context.options if isinstance(context.options, MatatikaOptions) else MatatikaOptions()
        )
        label = f"{context.instance} (matatika)"
        base_url = config.base_url.rstrip("/")
        credentials = context.credentials
        # The 2021 API fills a job's task fields (taskName, errorMessage...) only when asked;
        # the current one ignores the header.
        headers = {
            "Accept": "application/hal+json, application/json",
            "enable-task-details": "true",
        }
        auth: httpx.Auth | None = None
        if "client_id" in credentials and "client_secret" in credentials:
            grant = client_credentials(
                self._options.auth_url,
                credentials["client_id"],
                credentials["client_secret"],
                self._options.audience or base_url,
            )
            auth = TokenExchangeAuth(label, grant)
        else:
            headers["Authorization"] = f"Bearer {credentials.get('token', '')}"
        self._http = instance_client(context, label, base_url=base_url, headers=headers, auth=auth)

    def start_call(self, request: StartRequest) -> StartCall:
        collection = "pipeline" if self._options.api == "seed" else "pipelines"
        return StartCall("POST", f"/{collection}/{request.job['pipeline_id']}/jobs")

    async def start(self, request: StartRequest) -> ObservedRun:
        call = self.start_call(request)
        response = await self._http.request(call.method, call.path)
        return to_observed(response.json(), str(request.job["pipeline_id"]))

    async def list_runs(self, *, since: datetime | None, scopes: Collection[str] = ()) -> Listing:
        """The workspace's jobs in one paged listing, or each pipeline's when no workspace,
        or when only one pipeline is asked for (the snapshot before a start: one pipeline's
        few pages, not the whole workspace's, before each start). No pipeline asked for, no
        call: only the pipelines' jobs are kept."""
        if not scopes:
            return Listing([], server_time=None)
        if self._options.workspace and len(scopes) != 1:
            runs, sent = await self._pages(f"/workspaces/{self._options.workspace}/jobs", None)
            wanted = set(scopes)
            return Listing(
                [r for r in runs if r.scope in wanted],
                server_time=None,
                listed_at=dict.fromkeys(wanted, sent),
            )
        listings = await asyncio.gather(*(self._pages(f"/pipelines/{p}/jobs", p) for p in scopes))
        return Listing(
            [run for runs, _ in listings for run in runs],
            server_time=None,
            listed_at={p: sent for p, (_, sent) in zip(scopes, listings, strict=True)},
        )

    async def _pages(self, path: str, pipeline_id: str | None) -> tuple[list[ObservedRun], float]:
        """The jobs of every page, and when the first page was asked for."""
        runs: list[ObservedRun] = []
        page = 0
        while True:
            response = await self._http.request(
                "GET", path, params={"page": page, "size": PAGE_SIZE, "sort": "created,desc"}
            )
            if page == 0:
                first = sent_at(response)
            body = response.json()
            jobs = (body.get("_embedded") or {}).get("jobs", [])
            runs.extend(to_observed(job, pipeline_id) for job in jobs)
            page += 1
            if page >= int((body.get("page") or {}).get("totalPages", 1)):
                return runs, first

    async def get_run(self, run_id: str) -> ObservedRun:
        response = await self._http.request("GET", f"/jobs/{run_id}")
        return to_observed(response.json())

    async def stop_run(self, run_id: str, job: Mapping[str, Any] | None = None) -> ObservedRun:
        """``PUT /jobs/{id}/stopped`` (RUNNING jobs only); DELETE for a queued job, or on the
        seed-era API, which "deletes and stops" it."""
        if self._options.api == "seed":
            return await self._delete(run_id)
        try:
            await self._http.request("PUT", f"/jobs/{run_id}/stopped")
        except ConflictError:
            run = await self.get_run(run_id)
            if run.status.is_terminal:
                return run
            if run.status is RunStatus.PENDING:
                return await self._delete(run_id)
            raise
        return await self.get_run(run_id)  # the 202 body's shape is not documented

    async def _delete(self, run_id: str) -> ObservedRun:
        await self._http.request("DELETE", f"/jobs/{run_id}")
        # The job is gone from the API now; record it as stopped.
        return ObservedRun(
            run_id=run_id, run_key=None, status=RunStatus.STOPPED, api_status="DELETED"
        )

    async def details(self, run_id: str) -> str | None:
        return None

    async def logs(self, run_id: str, after: int) -> LogLines:
        """``GET /jobs/{id}/logs?sequence=N``: the lines from line N, as text; 204 when there
        are none yet."""
        response = await self._http.request(
            "GET",
            f"/jobs/{run_id}/logs",
            params={"sequence": after},
            headers={"Accept": "text/plain"},
        )
        lines = response.text.splitlines() if response.status_code != 204 else []
        return LogLines(tuple(lines), after + len(lines))
