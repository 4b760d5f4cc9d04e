"""The notification ledger in PostgreSQL (``state.ledger``): a row per key, inserted by
whichever replica claims it first; the primary key makes a second claim impossible."""

from __future__ import annotations

from reconciler.state.ledger import STALE_CLAIM
from reconciler.state.pgstore import Connection, PgStore


class PgLedger:
    def __init__(self, store: PgStore) -> None:
        self._store = store
        self._conn: Connection | None = None

    def _execute(self, sql: bytes, params: tuple[object, ...]) -> int:
        with self._store.errors():
            if self._conn is None or self._conn.closed:
                self._conn = self._store.connect()
            cursor = self._conn.execute(sql, params)
            return cursor.rowcount

    def claim(self, key: str) -> bool:
        # A new key, or one whose claimer never marked it sent in time (it died meanwhile).
        return (
            self._execute(
                b"INSERT INTO notifications (state, key) VALUES (%s, %s)"
                b" ON CONFLICT (state, key) DO UPDATE SET claimed_at = now()"
                b" WHERE notifications.sent_at IS NULL"
                b" AND notifications.claimed_at < now() - make_interval(secs => %s)",
                (self._store.state, key, STALE_CLAIM),
            )
            == 1
        )

    def sent(self, key: str) -> None:
        self._execute(
            b"UPDATE notifications SET sent_at = now() WHERE state = %s AND key = %s",
            (self._store.state, key),
        )

    def release(self, key: str) -> None:
        self._execute(
            b"DELETE FROM notifications WHERE state = %s AND key = %s AND sent_at IS NULL",
            (self._store.state, key),
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
