"""The Vonage emulator's table, its dates, and a run as the API shows it at a moment.

A run is ``scheduled`` until its ``start_at``, ``running`` until its ``end_at``, then
``completed`` (or ``failed``, by seed); a stop makes it ``stopped``.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from reconciler.sandbox.common import ApiProblem
from reconciler.sandbox.timeline import Step, Timeline

TABLES = """
CREATE TABLE IF NOT EXISTS vonage_runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    job_id TEXT NOT NULL,
    name TEXT NOT NULL,
    start_at REAL NOT NULL,
    end_at REAL NOT NULL,
    created REAL NOT NULL,
    stopped_at REAL,
    outcome TEXT NOT NULL
);
"""

ENDED = frozenset({"completed", "failed", "stopped"})
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


def run_status(row: sqlite3.Row, now: float) -> Step:
    """(time of the last change, status) at ``now``: the run's window is its own (``startAt``,
    ``endAt``), so its steps are those times, not durations."""
    steps = (
        Step(row["created"], "scheduled"),
        Step(row["start_at"], "running"),
        Step(row["end_at"], row["outcome"]),
    )
    return Timeline(steps).stopped(row["stopped_at"], (), "stopped").at(now)


def run_document(row: sqlite3.Row, now: float) -> dict[str, Any]:
    updated, status = run_status(row, now)
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
