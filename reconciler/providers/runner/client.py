"""CenturyLink Cloud Runner job-executions adapter.

A bearer token from the CLC v2 login, cached and renewed on 401. Executions cannot carry our
key, so reconciler records each ``execution_id`` from the start response at once, and after a
crash adopts by the journal's snapshot (see docs/providers/runner.md). Run ids are
``<job id>/<execution id>``: every execution path needs both.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Collection, Mapping
from datetime import UTC, datetime
from typing import Any, TypedDict

import httpx

from reconciler.errors import AuthError, InvalidRequestError, NotFoundError
from reconciler.providers.base import (
    Listing,
    ObservedRun,
    ProviderContext,
    RunStatus,
    StartRequest,
    stop_unless_ended,
)
from reconciler.providers.http import ApiClient, error_for, json_message
from reconciler.providers.runner.job import RunnerOptions

PAGE_SIZE = 100

STATUS_MAP: dict[str, RunStatus] = {
    "PENDING": RunStatus.PENDING,
    "INITIALIZING": RunStatus.PENDING,
    "RUNNING": RunStatus.RUNNING,
    "STOPPING": RunStatus.STOPPING,
    "KILLING": RunStatus.STOPPING,
    "SUCCESS": RunStatus.SUCCEEDED,
    "FAILURE": RunStatus.FAILED,
    "INIT_FAILURE": RunStatus.FAILED,
    "STOPPED": RunStatus.STOPPED,
    "KILLED": RunStatus.STOPPED,
}


class ExecutionPayload(TypedDict, total=False):
    execution_id: str
    job_id: str
    status: str
    start: int | None
    end: int | None
    timers: list[dict[str, int | None]]


class LoginAuth(httpx.Auth):
    """Bearer token from ``POST {auth_url}/v2/authentication/login``, renewed once on 401."""

    def __init__(self, label: str, login_url: str, username: str, password: str) -> None:
        self._label = label
        self._login_url = login_url
        self._credentials = {"username": username, "password": password}
        self._token: str | None = None
        self._lock = asyncio.Lock()

    def _login_request(self) -> httpx.Request:
        return httpx.Request("POST", self._login_url, json=self._credentials)

    async def _keep(self, response: httpx.Response) -> None:
        await response.aread()  # async flows read bodies themselves
        if not response.is_success:
            error = error_for(self._label, response, f"login: {json_message(response)}")
            if response.status_code == 400:  # the login's answer to wrong credentials
                error = AuthError(self._label, error.api_message, status=400)
            raise error
        self._token = str(response.json()["bearerToken"])

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._token is None:
            async with self._lock:  # one login for the requests that arrive together
                if self._token is None:
                    await self._keep((yield self._login_request()))
        used = self._token
        request.headers["Authorization"] = f"Bearer {used}"
        response = yield request
        if response.status_code == 401:
            async with self._lock:
                if self._token == used:  # nobody renewed it meanwhile
                    await self._keep((yield self._login_request()))
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request


def epoch_ms(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value / 1000, UTC) if value is not None else None


def to_observed(execution: ExecutionPayload) -> ObservedRun:
    api_status = execution.get("status", "")
    job_id = execution.get("job_id", "")
    timers = execution.get("timers") or []
    last = timers[-1] if timers else {}
    start = execution.get("start") if "start" in execution else last.get("start")
    end = execution.get("end") if "end" in execution else last.get("end")
    return ObservedRun(
        run_id=f"{job_id}/{execution['execution_id']}",
        run_key=None,
        status=STATUS_MAP.get(api_status, RunStatus.UNKNOWN),
        api_status=api_status,
        started_at=epoch_ms(start),
        ended_at=epoch_ms(end),
        scope=job_id,
    )


def split_run_id(run_id: str) -> tuple[str, str]:
    job_id, _, execution_id = run_id.partition("/")
    return job_id, execution_id


class RunnerProvider:
    def __init__(self, context: ProviderContext) -> None:
        config = context.config
        options = context.options if isinstance(context.options, RunnerOptions) else RunnerOptions()
        self.instance = context.instance
        label = f"{context.instance} (runner)"
        self._alias = config.account or ""
        self._http = ApiClient(
            label=label,
            base_url=f"{config.base_url.rstrip('/')}/jobs/{self._alias}",
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            auth=LoginAuth(
                label,
                f"{options.auth_url.rstrip('/')}/v2/authentication/login",
                context.credentials.get("username", ""),
                context.credentials.get("password", ""),
            ),
            concurrency=config.concurrency,
            rate_limit=config.rate_limit,
            transport=context.transport,
        )

    @property
    def calls(self) -> int:
        return self._http.calls

    async def start(self, request: StartRequest) -> ObservedRun:
        job = request.job
        hosts = [{"id": host["id"]} for host in job.get("hosts", [])]
        body = {"hosts": hosts} if hosts else {}
        response = await self._http.request("POST", f"/{job['job_id']}/start", json=body)
        return to_observed(response.json())

    async def list_runs(self, *, since: datetime | None, scopes: Collection[str] = ()) -> Listing:
        """Every execution of each job definition in ``scopes``, all pages, concurrently."""
        listings = await asyncio.gather(*(self._executions(job_id) for job_id in scopes))
        return Listing(runs=[run for runs in listings for run in runs], server_time=None)

    async def _executions(self, job_id: str) -> list[ObservedRun]:
        runs: list[ObservedRun] = []
        page = 0
        while True:
            response = await self._http.request(
                "GET", f"/{job_id}/executions", params={"page": page, "size": PAGE_SIZE}
            )
            body = response.json()
            runs.extend(to_observed(e) for e in body.get("results", []))
            page += 1
            if page * int(body.get("size") or PAGE_SIZE) >= int(body.get("totalSize", 0)):
                return runs

    async def get_run(self, run_id: str) -> ObservedRun:
        """From the job's execution list: no single-execution GET is documented."""
        job_id, _ = split_run_id(run_id)
        for run in await self._executions(job_id):
            if run.run_id == run_id:
                return run
        raise NotFoundError(self._http.label, f"Execution {run_id} not found", status=404)

    async def stop_run(self, run_id: str, job: Mapping[str, Any] | None = None) -> ObservedRun:
        job_id, execution_id = split_run_id(run_id)
        verb = (job or {}).get("stop_mode", "stop")
        body = {"expiryDuration": (job or {}).get("expiry_duration", 0)}

        async def stop() -> ObservedRun:
            path = f"/{job_id}/executions/{execution_id}/{verb}"
            response = await self._http.request("POST", path, json=body)
            return to_observed(response.json())

        return await stop_unless_ended(stop, lambda: self.get_run(run_id), InvalidRequestError)

    async def details(self, run_id: str) -> str | None:
        return None

    async def aclose(self) -> None:
        await self._http.aclose()
