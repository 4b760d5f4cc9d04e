"""The Xplenty emulator's tables, and a job as the API shows it at a moment.

Jobs move through the API's statuses on the sandbox clock: idle -> pending -> running ->
completed | failed; a terminate moves them pending_stoppage -> stopping -> stopped.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconciler.sandbox.timeline import Timeline

TABLES = """
CREATE TABLE IF NOT EXISTS xplenty_accounts (name TEXT PRIMARY KEY, api_keys TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS xplenty_clusters (
    account TEXT NOT NULL, id INTEGER NOT NULL, name TEXT NOT NULL, PRIMARY KEY (account, id));
CREATE TABLE IF NOT EXISTS xplenty_packages (
    account TEXT NOT NULL, id INTEGER NOT NULL, name TEXT NOT NULL, PRIMARY KEY (account, id));
CREATE TABLE IF NOT EXISTS xplenty_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    cluster_id INTEGER NOT NULL,
    package_id INTEGER NOT NULL,
    variables TEXT NOT NULL,
    dynamic_variables TEXT NOT NULL,
    created REAL NOT NULL,
    t_idle REAL NOT NULL,
    t_pending REAL NOT NULL,
    t_running REAL NOT NULL,
    outcome TEXT NOT NULL,
    stop_at REAL,
    t_stop_pending REAL NOT NULL,
    t_stopping REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS xplenty_jobs_account ON xplenty_jobs (account, id);
"""

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
    """The job's status at ``now``, from its creation time, durations and stop time."""
    phases = [("idle", row["t_idle"]), ("pending", row["t_pending"]), ("running", row["t_running"])]
    stop = [("pending_stoppage", row["t_stop_pending"]), ("stopping", row["t_stopping"])]
    timeline = Timeline.run(row["created"], phases, row["outcome"])
    timeline = timeline.stopped(row["stop_at"], stop, "stopped")
    updated, status = timeline.at(now)
    ended = updated if status in TERMINAL else None
    return JobState(status, updated, timeline.began("running", now), ended)


def _updated_sql() -> str:
    """``job_state(row, ?).updated`` as an SQL expression of one parameter, the moment: the
    latest of the job's steps reached by then (its creation, else). Each step's time is summed
    in the order ``Timeline.run`` sums it, so the doubles are the same; a step after a stop is
    not reached, a stop's own steps are. So a listing filters on it in SQLite (issue 20: at
    100,000 runs, timing every job in Python for each page made the sandbox the bottleneck)."""
    idle = "created + t_idle"
    pending = f"({idle}) + t_pending"
    end = f"({pending}) + t_running"
    stopped = f"(stop_at IS NOT NULL AND stop_at < {end})"
    stop_pending = "stop_at + t_stop_pending"
    stopping = f"({stop_pending}) + t_stopping"

    def run_step(at: str) -> str:
        reached = f"({at}) <= :now AND (NOT {stopped} OR ({at}) <= stop_at)"
        return f"CASE WHEN {reached} THEN {at} ELSE created END"

    def stop_step(at: str) -> str:
        return f"CASE WHEN {stopped} AND ({at}) <= :now THEN {at} ELSE created END"

    steps = [run_step(idle), run_step(pending), run_step(end)]
    steps += [stop_step("stop_at"), stop_step(stop_pending), stop_step(stopping)]
    return f"max(created, {', '.join(steps)})"


UPDATED_SQL = _updated_sql()


# What the API's ``errors`` holds for a failed job: the failing component and its cause.
FAILURE_ERRORS = (
    "Component 'destination_1' (Database destination) failed: could not connect to "
    "server: Connection refused"
)


def job_document(base: str, html_base: str, row: sqlite3.Row, now: float) -> dict[str, Any]:
    """The job under the API at ``base`` (its account's), at ``now``."""
    state = job_state(row, now)
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
        "errors": FAILURE_ERRORS if state.status == "failed" else "",
        "runtime_in_seconds": runtime,
        "url": f"{base}/jobs/{job_id}",
        "html_url": f"{html_base}/jobs/{job_id}",
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


def item_document(base: str, noun: str, row: sqlite3.Row) -> dict[str, Any]:
    """A cluster or a package (``noun``) under the API at ``base``."""
    item: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"],
        "url": f"{base}/{noun}/{row['id']}",
    }
    if noun == "clusters":
        item["status"] = "available"
    return item
