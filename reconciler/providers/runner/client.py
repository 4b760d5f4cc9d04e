"""CenturyLink Cloud Runner job-executions adapter.

A bearer token from the CLC v2 login, cached and renewed on 401. Executions cannot carry our
key, so reconciler records each ``execution_id`` from the start response at once, and after a
crash adopts by the journal's snapshot (see docs/providers/runner.md). Run ids are
``<job id>/<execution id>``: every execution path needs both.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any, TypedDict

import httpx

from reconciler.errors import InvalidRequestError, NotFoundError
from reconciler.providers.base import (
    Listing,
    LogLines,
    ObservedRun,
    ProviderContext,
    RunFailure,
    RunStatus,
    StartCall,
    StartRequest,
    resolved_secret,
    stop_unless_ended,
)
from reconciler.providers.http import HttpAdapter, instance_client, sent_at
from reconciler.providers.runner.job import RunnerOptions
from reconciler.providers.token_auth import Exchange, TokenExchangeAuth

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
    failed_hosts: list[object]


def login(url: str, username: str, password: str) -> Exchange:
    """``POST {auth_url}/v2/authentication/login``; the token lasts until a 401 (up to 2 weeks)."""
    return Exchange(
        request=lambda: httpx.Request(
            "POST", url, json={"username": username, "password": password}
        ),
        read=lambda response: (str(response.json()["bearerToken"]), None),
        refusals=(400,),  # the login's answer to wrong credentials
    )


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
        failure=_failure(execution),
    )


FAILURES = {"FAILURE": "playbook failed", "INIT_FAILURE": "initialization failed"}


def _failure(execution: ExecutionPayload) -> RunFailure | None:
    """``FAILURE``/``INIT_FAILURE``, with the hosts it failed on (``failed_hosts``): the only
    account an execution gives (no log endpoint is documented)."""
    reason = FAILURES.get(execution.get("status", ""))
    if reason is None:
        return None
    hosts = [str(h) for h in execution.get("failed_hosts") or [] if isinstance(h, str | int)]
    return RunFailure(reason, f"failed hosts: {', '.join(hosts)}" if hosts else None)


def split_run_id(run_id: str) -> tuple[str, str]:
    job_id, _, execution_id = run_id.partition("/")
    return job_id, execution_id


class RunnerProvider(HttpAdapter):
    def __init__(self, context: ProviderContext) -> None:
        config = context.config
        options = context.options if isinstance(context.options, RunnerOptions) else RunnerOptions()
        self.instance = context.instance
        label = f"{context.instance} (runner)"
        self._alias = config.account or ""
        self._secrets = context.secrets
        self._http = instance_client(
            context,
            label,
            base_url=f"{config.base_url.rstrip('/')}/jobs/{self._alias}",
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            auth=TokenExchangeAuth(
                label,
                login(
                    f"{options.auth_url.rstrip('/')}/v2/authentication/login",
                    context.credentials.get("username", ""),
                    context.credentials.get("password", ""),
                ),
            ),
        )

    def start_call(self, request: StartRequest) -> StartCall:
        job = request.job
        body: dict[str, Any] = {}
        hosts = [self._host(host) for host in job.get("hosts", [])]
        if hosts:
            body["hosts"] = hosts
        if job.get("ssh_private_key"):
            body["sshPrivateKey"] = self._ssh_key(job["ssh_private_key"])
        return StartCall("POST", f"/{job['job_id']}/start", body)

    def _host(self, host: Mapping[str, Any]) -> dict[str, str]:
        entry = {"id": str(host["id"])}
        if host.get("ssh_private_key"):
            entry["sshPrivateKey"] = self._ssh_key(host["ssh_private_key"])
        return entry

    def _ssh_key(self, reference: str) -> str:
        """The key behind ``reference``, base64-encoded as S2 asks; ending with a line break,
        which a credential file's reading strips and OpenSSH needs ("invalid format")."""
        key = resolved_secret(self._secrets, reference).rstrip("\n") + "\n"
        return base64.b64encode(key.encode()).decode()

    async def start(self, request: StartRequest) -> ObservedRun:
        call = self.start_call(request)
        response = await self._http.request(call.method, call.path, json=call.body)
        return to_observed(response.json())

    async def list_runs(self, *, since: datetime | None, scopes: Collection[str] = ()) -> Listing:
        """Every execution of each job definition in ``scopes``, all pages, concurrently."""
        listings = await asyncio.gather(*(self._executions(job_id) for job_id in scopes))
        return Listing(
            runs=[run for runs, _ in listings for run in runs],
            server_time=None,
            listed_at={job_id: sent for job_id, (_, sent) in zip(scopes, listings, strict=True)},
        )

    async def _executions(self, job_id: str) -> tuple[list[ObservedRun], float]:
        """The job's executions, and when the listing's first page was sent."""
        runs: list[ObservedRun] = []
        page = 0
        while True:
            response = await self._http.request(
                "GET", f"/{job_id}/executions", params={"page": page, "size": PAGE_SIZE}
            )
            if page == 0:
                first = sent_at(response)
            body = response.json()
            runs.extend(to_observed(e) for e in body.get("results", []))
            page += 1
            if page * int(body.get("size") or PAGE_SIZE) >= int(body.get("totalSize", 0)):
                return runs, first

    async def get_run(self, run_id: str) -> ObservedRun:
        """From the job's execution list: no single-execution GET is documented."""
        job_id, _ = split_run_id(run_id)
        runs, _ = await self._executions(job_id)
        for run in runs:
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

    async def logs(self, run_id: str, after: int) -> LogLines | None:
        return None  # Runner documents no log endpoint for an execution (PROVIDERS.md)

    async def details(self, run_id: str) -> str | None:
        return None
