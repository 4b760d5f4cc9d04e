"""SQLite state of the sandbox, and its clock (real time plus an offset tests can advance).
Each emulator creates its own tables.

Separate processes using the same state file see the same runs and the same clock.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"


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
                self._set_wal()
            self._db.executescript(SCHEMA)

    def _set_wal(self) -> None:
        """WAL mode, retried: when several processes open a new state file at once, SQLite
        answers "database is locked" to the mode change at once instead of calling the busy
        handler, so the connection's timeout does not cover it."""
        deadline = time.monotonic() + 30
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def create_tables(self, schema: str) -> None:
        """An emulator's tables: ``schema`` creates only what does not exist yet."""
        with self._lock:
            self._db.executescript(schema)

    def add_column(self, table: str, column: str, declaration: str) -> None:
        """A column added since a state file was written."""
        with self._lock:
            columns = {r["name"] for r in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in columns:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")

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

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[sqlite3.Row]:
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
