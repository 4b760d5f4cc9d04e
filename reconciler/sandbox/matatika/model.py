"""The Matatika emulator's tables, and a job as the API shows it at a moment.

Jobs move QUEUED -> RUNNING -> COMPLETE | ERROR on the sandbox clock, or STOPPED when stopped
or past the pipeline's timeout; the 2021 documents (``status_set: seed``) have no QUEUED.
Timestamps carry no zone (UTC, microseconds).
"""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime
from typing import Any

from reconciler.sandbox.matatika.seed import MatatikaSeed
from reconciler.sandbox.timeline import Timeline

TABLES = """
-- Each client-credentials grant the token endpoint answered (a real Auth0 tenant shows them
-- in its logs): how tests count token grants.
CREATE TABLE IF NOT EXISTS matatika_grants (issued REAL NOT NULL, client_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS matatika_pipelines (
    id TEXT PRIMARY KEY, workspace TEXT NOT NULL, name TEXT NOT NULL, timeout INTEGER NOT NULL,
    running REAL, outcome TEXT);
CREATE TABLE IF NOT EXISTS matatika_jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    pipeline_id TEXT NOT NULL,
    profile TEXT NOT NULL,
    created REAL NOT NULL,
    t_queued REAL NOT NULL,
    t_running REAL NOT NULL,
    outcome TEXT NOT NULL,
    stop_at REAL,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS matatika_jobs_pipeline ON matatika_jobs (pipeline_id);
"""

TERMINAL = frozenset({"COMPLETE", "ERROR", "STOPPED"})


def stamp(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def job_state(
    job: sqlite3.Row, pipeline: sqlite3.Row, seed: MatatikaSeed, now: float
) -> tuple[str, float | None, float | None]:
    """(status, start time, end time) at ``now``."""
    run_for, outcome = job["t_running"], job["outcome"]
    limit = pipeline["timeout"] or 300
    if run_for > limit and not seed.seed_era:
        run_for, outcome = limit, "STOPPED"  # timed out
    queued = 0.0 if seed.seed_era else job["t_queued"]
    timeline = Timeline.run(job["created"], [("QUEUED", queued), ("RUNNING", run_for)], outcome)
    timeline = timeline.stopped(job["stop_at"], [("RUNNING", seed.stopping)], "STOPPED")
    return timeline.at(now).status, timeline.began("RUNNING", now), timeline.ended(now)


TAP_ERROR = "Extractor failed: tap-sandbox exited with code 1 (401 Unauthorized from the source)"


def job_document(
    url: str, row: sqlite3.Row, pipeline: sqlite3.Row, seed: MatatikaSeed, now: float, details: bool
) -> dict[str, Any]:
    """The job at ``url``, at ``now``; ``details``: the 2021 task fields filled."""
    status, began, ended = job_state(row, pipeline, seed, now)
    job: dict[str, Any] = {
        "id": row["id"],
        "created": stamp(row["created"]),
        "type": "PIPELINE_RUN",
        "maxAttempts": 0,
        "attempt": 1,
        "commitId": hashlib.sha1(row["id"].encode()).hexdigest()[:7],
        "exitCode": {"COMPLETE": 0, "ERROR": 1}.get(status),
        "status": status,
        "startTime": stamp(began),
        "endTime": stamp(ended),
        "_embedded": {
            "pipeline": {
                "id": pipeline["id"],
                "status": "READY",
                "name": pipeline["name"],
                "timeout": pipeline["timeout"],
                "maxRetries": 0,
            },
            "profile": {
                "id": row["profile"],
                "name": "Sandbox",
                "handle": "@sandbox",
                "email": "sandbox@example.com",
            },
        },
        "_links": {
            "self": {"href": url},
            "delete job": {"href": url, "type": "DELETE"},
            "logs": {"href": f"{url}/logs?sequence=0", "type": "GET"},
        },
    }
    if not seed.seed_era and status == "RUNNING":
        job["_links"]["stop job"] = {"href": f"{url}/stopped", "type": "PUT"}
    if seed.seed_era:
        for name in ("taskName", "exitMessage", "arguments", "errorMessage"):
            job[name] = None
        if details:
            job.update(
                taskName="meltano elt",
                exitMessage={"COMPLETE": "Completed", "ERROR": "Failed"}.get(status),
                arguments=["elt", "tap-sandbox", "target-postgres"],
                errorMessage=None if status != "ERROR" else TAP_ERROR,
            )
    return job


def log_lines(
    job_id: str, status: str, began: float | None, ended: float | None, now: float
) -> list[str]:
    lines = [f"job {job_id} queued"]
    if began is not None:
        lines += [f"extracted batch {i + 1}" for i in range(int(((ended or now) - began) // 5))]
    if status in TERMINAL:
        lines.append(f"job {job_id} {status.lower()}")
    return lines
