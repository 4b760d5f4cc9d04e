"""Vonage Proactive Connect (beta) job-runs adapter.

Bearer JWT; camelCase requests, snake_case responses; RFC 7807 errors. Our run key rides in
the run ``name`` as a ``[rk:<key>]`` suffix, echoed by every read. The spec's window is the
run's own ``startAt``/``endAt``, so the API starts and ends the run itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
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
    stop_unless_ended,
)
from reconciler.providers.http import (
    MAX_BODY_IN_MESSAGE,
    HttpAdapter,
    instance_client,
    json_object,
)
from reconciler.spec.models import RateLimit

PAGE_SIZE = 100
KEY_SUFFIX = re.compile(r" \[rk:([^\]\s]+)\]$")

STATUS_MAP: dict[str, RunStatus] = {
    "scheduled": RunStatus.PENDING,
    "running": RunStatus.RUNNING,
    "completed": RunStatus.SUCCEEDED,
    "failed": RunStatus.FAILED,
    "stopped": RunStatus.STOPPED,
}


class RunPayload(TypedDict, total=False):
    id: str
    job_id: str
    name: str
    status: str
    start_at: str
    end_at: str
    created_at: str
    updated_at: str


def problem_message(response: httpx.Response) -> str:
    """RFC 7807: ``detail``, else ``title``, plus any ``errors``."""
    body = json_object(response)
    if body is not None and (body.get("detail") or body.get("title")):
        message = str(body.get("detail") or body.get("title"))
        errors = body.get("errors")
        if isinstance(errors, list) and errors and errors != [message]:
            message += " (" + "; ".join(map(str, errors)) + ")"
        return message
    return response.text.strip()[:MAX_BODY_IN_MESSAGE] or response.reason_phrase


def iso_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def run_name(name: str, run_key: str) -> str:
    return f"{name} [rk:{run_key}]"


def to_observed(run: RunPayload) -> ObservedRun:
    match = KEY_SUFFIX.search(run.get("name", ""))
    status = STATUS_MAP.get(run.get("status", ""), RunStatus.UNKNOWN)
    start = parse_time(run.get("start_at"))
    ended = parse_time(run.get("updated_at")) if status.is_terminal else None
    return ObservedRun(
        run_id=run["id"],
        run_key=match.group(1) if match else None,
        status=status,
        api_status=run.get("status", ""),
        started_at=start if status is not RunStatus.PENDING else None,
        ended_at=ended,
        created_at=parse_time(run.get("created_at")),
    )


MAX_SUMMARIES = 20  # summaries asked for in one listing: failed runs are few, calls count


def _counts(summary: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    embedded = summary.get("_embedded")
    embedded = embedded if isinstance(embedded, dict) else {}
    delivery = embedded.get("action_delivery_status")
    responses = embedded.get("recipient_response")
    return (
        delivery if isinstance(delivery, dict) else {},
        responses if isinstance(responses, dict) else {},
    )


def summary_counts(summary: Mapping[str, Any]) -> str:
    delivery, responses = _counts(summary)
    return (
        f"recipients {delivery.get('recipients_count', 0)}, "
        f"delivered {delivery.get('status_succeeded_count', 0)}, "
        f"failed {delivery.get('status_failed_count', 0)}, "
        f"responses {responses.get('recipients_count', 0)}"
    )


def summary_failure(summary: Mapping[str, Any]) -> RunFailure:
    """The neutral account of a failed run: its failed deliveries, from the summary."""
    delivery, _ = _counts(summary)
    failed = delivery.get("status_failed_count", 0)
    return RunFailure(
        f"{failed} of {delivery.get('recipients_count', 0)} deliveries failed",
        summary_counts(summary),
    )


class VonageProvider(HttpAdapter):
    def __init__(
        self, context: ProviderContext, *, rate_limit_default: RateLimit | None = None
    ) -> None:
        config = context.config
        self.instance = context.instance
        label = f"{context.instance} (vonage)"
        credentials = context.credentials
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        auth: httpx.Auth | None = None
        if "application_id" in credentials and "private_key" in credentials:
            # Imported here: loading cryptography costs every command ~30 ms otherwise.
            from reconciler.providers.vonage.application_jwt import ApplicationJwtAuth

            auth = ApplicationJwtAuth(
                label, credentials["application_id"], credentials["private_key"]
            )
        else:
            headers["Authorization"] = f"Bearer {credentials.get('token', '')}"
        self._http = instance_client(
            context,
            label,
            base_url=config.base_url.rstrip("/"),
            headers=headers,
            auth=auth,
            rate_limit_default=rate_limit_default,
            error_message=problem_message,
        )

    def start_call(self, request: StartRequest) -> StartCall:
        job = request.job
        start = request.window_start or datetime.now(UTC)
        if request.window_end is not None:
            end = request.window_end
        else:
            seconds = int(job.get("duration", 3600))
            if request.timeout is not None:
                seconds = min(seconds, request.timeout)
            end = start + timedelta(seconds=seconds)
        body = {
            "jobId": job["job_id"],
            "name": run_name(str(job.get("name") or request.name), request.run_key),
            "startAt": iso_ms(start),
            "endAt": iso_ms(end),
        }
        return StartCall("POST", "/jobs/runs", body)

    async def start(self, request: StartRequest) -> ObservedRun:
        call = self.start_call(request)
        response = await self._http.request(call.method, call.path, json=call.body)
        return to_observed(response.json())

    async def list_runs(self, *, since: datetime | None, scopes: Collection[str] = ()) -> Listing:
        """``GET /runs``, every page (the API lists all runs, ended ones included)."""
        runs: list[ObservedRun] = []
        page, pages = 1, 1
        while page <= pages:
            response = await self._http.request(
                "GET", "/runs", params={"page": page, "page_size": PAGE_SIZE}
            )
            body = response.json()
            runs.extend(to_observed(r) for r in body.get("_embedded", {}).get("runs", []))
            pages = int(body.get("total_pages", 1))
            page += 1
        # Why a run failed is only in its summary: asked for our runs (they carry our key)
        # that failed since ``since`` (the latest first), at most MAX_SUMMARIES a listing.
        failed = sorted(
            (
                i
                for i, run in enumerate(runs)
                if run.status is RunStatus.FAILED
                and run.run_key is not None
                and (since is None or (run.ended_at is not None and run.ended_at >= since))
            ),
            key=lambda i: runs[i].ended_at or datetime.min.replace(tzinfo=UTC),
            reverse=True,
        )[:MAX_SUMMARIES]
        explained = await asyncio.gather(*(self._explained(runs[i]) for i in failed))
        for i, run in zip(failed, explained, strict=True):
            runs[i] = run
        return Listing(runs=runs, server_time=None)

    async def get_run(self, run_id: str) -> ObservedRun:
        response = await self._http.request("GET", f"/runs/{run_id}")
        return await self._explained(to_observed(response.json()))

    async def _explained(self, run: ObservedRun) -> ObservedRun:
        """A failed run with its summary's counts of failed deliveries."""
        if run.status is not RunStatus.FAILED:
            return run
        summary = await self._summary(run.run_id)
        return dataclasses.replace(run, failure=summary_failure(summary))

    async def _summary(self, run_id: str) -> dict[str, Any]:
        response = await self._http.request("GET", f"/jobs/runs/{run_id}/summary")
        body = response.json()
        return body if isinstance(body, dict) else {}

    async def stop_run(self, run_id: str, job: Mapping[str, Any] | None = None) -> ObservedRun:
        async def stop() -> ObservedRun:
            response = await self._http.request("POST", f"/runs/{run_id}/stop")
            return to_observed(response.json())

        return await stop_unless_ended(stop, lambda: self.get_run(run_id), ConflictError)

    async def logs(self, run_id: str, after: int) -> LogLines | None:
        return (
            None  # Proactive Connect's run events are a separate API (bulk events), not read here
        )

    async def details(self, run_id: str) -> str | None:
        """The run summary's counts, as ``reconciler show`` prints them: its progress."""
        return summary_counts(await self._summary(run_id))
