"""The Runner emulator's tables, and jobs and executions as the API shows them at a moment.

Executions move PENDING -> INITIALIZING -> RUNNING -> SUCCESS | FAILURE (or INIT_FAILURE) on the
sandbox clock; stop moves them STOPPING -> STOPPED, kill KILLING -> KILLED, and a job's
``executionTtl`` stops them gracefully. At most ``max_concurrent`` executions of an account are
active; the others wait in PENDING. Statuses are derived by replaying the account's executions
in creation order through its slots, so they are a pure function of the stored data and time.
"""

from __future__ import annotations

import heapq
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from reconciler.sandbox.runner.seed import RunnerSeed
from reconciler.sandbox.timeline import Step, Timeline

TABLES = """
CREATE TABLE IF NOT EXISTS runner_tokens (
    token TEXT PRIMARY KEY, alias TEXT NOT NULL, user TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS runner_jobs (
    id TEXT PRIMARY KEY, alias TEXT NOT NULL, body TEXT NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS runner_executions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    job_id TEXT NOT NULL,
    alias TEXT NOT NULL,
    hosts TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runner_attempts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id TEXT NOT NULL,
    created REAL NOT NULL,
    t_init REAL NOT NULL,
    t_running REAL NOT NULL,
    outcome TEXT NOT NULL,
    ttl REAL NOT NULL,
    stop_at REAL,
    stop_kind TEXT,
    stop_expiry REAL
);
CREATE TABLE IF NOT EXISTS runner_ssh_keys (
    execution_id TEXT NOT NULL,
    host TEXT,  -- NULL: the request's key, for every host
    digest TEXT NOT NULL  -- SHA-256 of the decoded key: what tests check; never the key
);
CREATE INDEX IF NOT EXISTS runner_attempts_execution ON runner_attempts (execution_id);
"""

STOP = ("STOPPING", "STOPPED")
KILL = ("KILLING", "KILLED")


@dataclass(frozen=True)
class Replay:
    """An account's attempts replayed through its slots: each attempt's timeline, and where
    the slots stand after the last one, so that attempts created later are added without
    replaying the others again."""

    timelines: dict[int, Timeline]
    slots: tuple[float, ...]  # a heap: when each slot is free again
    last: tuple[float, int] | None  # (created, seq) of the last attempt replayed

    def extended(self, rows: list[sqlite3.Row], seed: RunnerSeed) -> Replay | None:
        """With ``rows`` replayed after the others; None when one of them was created before
        the last attempt replayed (then only a whole replay places it)."""
        ordered = sorted(rows, key=lambda r: (r["created"], r["seq"]))
        if (
            ordered
            and self.last is not None
            and (ordered[0]["created"], ordered[0]["seq"]) < self.last
        ):
            return None
        slots = list(self.slots)
        timelines = dict(self.timelines)
        for row in ordered:
            timelines[row["seq"]] = _through_slots(row, slots, seed)
        last = (ordered[-1]["created"], ordered[-1]["seq"]) if ordered else self.last
        return Replay(timelines, tuple(slots), last)


def replay(rows: list[sqlite3.Row], seed: RunnerSeed) -> Replay:
    """Every attempt of one account, through its ``max_concurrent`` slots, in creation order."""
    start = Replay({}, (0.0,) * seed.max_concurrent, None)
    replayed = start.extended(rows, seed)
    assert replayed is not None  # nothing before: every order is allowed
    return replayed


def _through_slots(row: sqlite3.Row, slots: list[float], seed: RunnerSeed) -> Timeline:
    """One attempt's timeline; takes a slot from the heap ``slots`` and gives it back when the
    attempt ends."""
    created, stop_at, kind = row["created"], row["stop_at"], row["stop_kind"] or "stop"
    begin = max(created + seed.queued, slots[0])
    halt = STOP if kind == "stop" else KILL
    # The signal's expiryDuration is how long the execution may take to end (KB).
    pause = max(seed.stopping if kind == "stop" else seed.killing, row["stop_expiry"] or 0)
    waiting = Timeline((Step(created, "PENDING"),))
    if stop_at is not None and stop_at < begin:  # stopped while waiting for a slot
        return waiting.then(Timeline.run(stop_at, [(halt[0], pause)], halt[1]))
    heapq.heappop(slots)
    phases = [("INITIALIZING", row["t_init"])]
    if row["outcome"] != "INIT_FAILURE":
        phases.append(("RUNNING", row["t_running"]))
    timeline = waiting.then(Timeline.run(begin, phases, row["outcome"]))
    ttl_stop = begin + row["ttl"]
    if stop_at is None or ttl_stop < stop_at:
        timeline = timeline.stopped(ttl_stop, [(STOP[0], seed.stopping)], STOP[1])
    else:
        timeline = timeline.stopped(stop_at, [(halt[0], pause)], halt[1])
    heapq.heappush(slots, timeline.end)
    return timeline


def ms(ts: float | None) -> int | None:
    return None if ts is None else int(ts * 1000)


def job_document(row: sqlite3.Row) -> dict[str, Any]:
    body = json.loads(row["body"])
    href = f"/jobs/{row['alias']}/{row['id']}"
    return {
        "id": row["id"],
        "accountAlias": row["alias"],
        "description": body.get("description", ""),
        "executionTtl": body.get("executionTtl", 180),
        "repository": body.get("repository"),
        "hosts": body.get("hosts", []),
        "properties": body.get("properties", {}),
        "callbacks": body.get("callbacks", []),
        "playbookTags": body.get("playbookTags", []),
        "useDynamicInventory": body.get("useDynamicInventory", False),
        "status": "ACTIVE",
        "createdTime": ms(row["created"]),
        "lastUpdatedTime": ms(row["updated"]),
        "links": [
            {"ref": "self", "id": row["id"], "href": href, "verbs": ["GET", "PUT", "DELETE"]},
            {"ref": "executions", "href": f"{href}/executions", "verbs": ["GET"]},
            {"ref": "start", "href": f"{href}/start", "verbs": ["POST"]},
        ],
    }


def execution_documents(
    rows: list[sqlite3.Row], timelines: dict[int, Timeline], now: float, job_id: str | None
) -> list[dict[str, Any]]:
    """Executions of attempt ``rows`` (of one job, unless None), newest first, as their
    account's ``timelines`` (``replay``) have them at ``now``."""
    by_execution: dict[str, list[sqlite3.Row]] = {}
    for row in rows:
        by_execution.setdefault(row["execution_id"], []).append(row)
    documents = []
    for execution_id, own in by_execution.items():
        own.sort(key=lambda r: r["seq"])
        if job_id is not None and own[0]["job_id"] != job_id:
            continue
        timers = [_timer(timelines[r["seq"]], now) for r in own]
        status, began, ended = timers[-1]
        failed_hosts = json.loads(own[0]["hosts"])[:1] if status == "FAILURE" else []
        document = {
            "execution_id": execution_id,
            "job_id": own[0]["job_id"],
            "account_alias": own[0]["alias"],
            "status": status,
            "start": ms(began),
            "end": ms(ended),
            "timers": [{"start": ms(b), "end": ms(e)} for _, b, e in timers],
            "repository_log": None,
            "failed_hosts": failed_hosts,
            "is_vpn_established": False,
        }
        documents.append((own[0]["execution_seq"], document))
    documents.sort(key=lambda pair: -pair[0])
    return [doc for _, doc in documents]


def _timer(timeline: Timeline, now: float) -> tuple[str, float | None, float | None]:
    """(status, when it got a slot, when it ended) at ``now``."""
    return timeline.at(now).status, timeline.began("INITIALIZING", now), timeline.ended(now)
