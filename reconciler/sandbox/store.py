"""SQLite state of the sandbox, and its clock (real time plus an offset tests can advance).

Separate processes using the same state file see the same runs and the same clock.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
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
CREATE INDEX IF NOT EXISTS runner_attempts_execution ON runner_attempts (execution_id);
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


class Store:
    def __init__(self, path: Path | None) -> None:
        target = str(path) if path else ":memory:"
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            target, check_same_thread=False, timeout=30, isolation_level=None
        )
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()  # reentrant: now() is read inside transactions
        with self._lock:
            if path:
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)
            self._migrate()

    def _migrate(self) -> None:
        """Columns added since a state file was written."""
        columns = {r["name"] for r in self._db.execute("PRAGMA table_info(runner_attempts)")}
        if "stop_expiry" not in columns:
            self._db.execute("ALTER TABLE runner_attempts ADD COLUMN stop_expiry REAL")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def now(self) -> float:
        """Sandbox time: wall clock plus the offset set by ``advance``."""
        rows = self.query("SELECT value FROM meta WHERE key = 'clock_offset'")
        return time.time() + (float(rows[0]["value"]) if rows else 0.0)

    def advance(self, seconds: float) -> float:
        with self.transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'clock_offset'").fetchone()
            offset = (float(row["value"]) if row else 0.0) + seconds
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('clock_offset', ?)",
                (str(offset),),
            )
        return self.now()

    def close(self) -> None:
        with self._lock:
            self._db.close()
