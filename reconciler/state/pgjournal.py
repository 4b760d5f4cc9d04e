"""The journal in PostgreSQL: each entry committed, under the lease's fence, before its
``await`` returns.

An intent is a row of ``intents``, whose unique run key refuses, at commit, a second intent for
the same run while the first is in the journal: two appliers cannot both begin one start. A
start's outcome is written on its intent's row; a refused start deletes it (the intent is
void, and the key free again). Stops are rows of ``stop_intents`` the same way. Like the file
journal, the first entry that cannot be committed refuses every later one.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime

import psycopg
from psycopg.rows import TupleRow

from reconciler.errors import JournalWriteError, StateError
from reconciler.spec.runs import RunStatus, StopReason
from reconciler.state.model import RunRecord
from reconciler.state.pglease import Lease, fence

Connection = psycopg.Connection[TupleRow]
WAIT_SECONDS = 0.05  # between looks at the lease's deadline, waiting for a renewal


class PgJournal:
    def __init__(
        self,
        conn: Connection,
        guard: threading.Lock,
        leases: Sequence[Lease],
        where: str,
        describe: Callable[[psycopg.Error], str],
        held_until: Callable[[], float] = lambda: float("inf"),
        margin: float = 0.0,
    ) -> None:
        self._conn = conn
        self._guard = guard  # one transaction at a time on the connection
        self._leases = leases
        self._state = leases[0].state
        self._epoch = max(lease.epoch for lease in leases)
        self._where = where
        self._describe = describe
        self._failure: JournalWriteError | None = None
        self._held_until = held_until  # time.monotonic() before which the leases are ours
        self._margin = margin  # beyond a request's timeout, left of the lease when it is sent

    def check_held(self) -> None:
        """Fencing covers the database's writes, not a provider's calls: a holder paused
        past its lease must not send a start its successor may make too. So no request is
        sent past the local deadline (the last renewal's start plus most of the lease; the
        monotonic clock runs on while a process is stopped)."""
        if self._failure is None and time.monotonic() >= self._held_until():
            self._failure = JournalWriteError(
                f"the lock on the state {self._where} may have expired (not renewed in time); "
                "no further action was begun (the next command replays what the journal holds)"
            )
        if self._failure is not None:
            raise self._failure

    async def held_for(self, seconds: float) -> None:
        """Renewed every sixth of the lease, its sure part never falls below about 63% of it
        while the database answers (the configuration keeps timeouts at most half a lease):
        a wait here means a renewal is late. If none comes, the deadline passes and nothing
        more is begun; calls already sent had their timeout's worth of lease left."""
        while True:
            self.check_held()
            if self._held_until() - time.monotonic() >= seconds + self._margin:
                return
            await asyncio.sleep(WAIT_SECONDS)

    async def _commit(self, sql: bytes, params: tuple[object, ...], run_key: str = "") -> int:
        if self._failure is not None:
            raise self._failure
        try:
            return await asyncio.to_thread(self._run, sql, params)
        except psycopg.errors.UniqueViolation:
            why = (
                f"run key {run_key} already has an intent in the journal: a second start of "
                "the same run is refused"
            )
        except StateError as exc:  # the lease was lost: fenced
            why = str(exc)
        except psycopg.Error as exc:
            why = self._describe(exc)
        self._failure = JournalWriteError(
            f"cannot write the journal in {self._where}: {why}; no further action was begun "
            "(the next command replays what the journal holds)"
        )
        raise self._failure

    def _run(self, sql: bytes, params: tuple[object, ...]) -> int:
        with self._guard, self._conn.transaction():
            for lease in self._leases:
                fence(self._conn, lease, self._where)
            return self._conn.execute(sql, params).rowcount

    async def intent(self, record: RunRecord) -> None:
        document = record.model_dump_json()
        await self._commit(
            b"INSERT INTO intents (state, epoch, name, instance, run_key, record)"
            b" VALUES (%s, %s, %s, %s, %s, %s::jsonb)",
            (self._state, self._epoch, record.name, record.instance, record.run_key, document),
            run_key=record.run_key,
        )

    async def started(self, name: str, run_id: str, status: RunStatus, at: datetime | None) -> None:
        await self._commit(
            b"UPDATE intents SET run_id = %s, status = %s, started_at = %s"
            b" WHERE seq = (SELECT max(seq) FROM intents"
            b" WHERE state = %s AND name = %s AND run_id IS NULL)",
            (run_id, status.value, at, self._state, name),
        )

    async def start_failed(self, name: str) -> None:
        await self._commit(
            b"DELETE FROM intents WHERE seq = (SELECT max(seq) FROM intents"
            b" WHERE state = %s AND name = %s AND run_id IS NULL)",
            (self._state, name),
        )

    async def stop_intent(self, name: str, run_id: str, reason: StopReason) -> None:
        await self._commit(
            b"INSERT INTO stop_intents (state, epoch, name, run_id, reason, instance)"
            b" SELECT %s, %s, %s, %s, %s,"
            b" (SELECT instance FROM records WHERE state = %s AND name = %s)",
            (self._state, self._epoch, name, run_id, reason.value, self._state, name),
        )

    async def stop_requested(
        self, name: str, run_id: str, reason: StopReason, status: RunStatus
    ) -> None:
        await self._commit(
            b"UPDATE stop_intents SET reason = %s, status = %s WHERE seq = (SELECT max(seq)"
            b" FROM stop_intents WHERE state = %s AND name = %s AND run_id = %s)",
            (reason.value, status.value, self._state, name, run_id),
        )
