"""The PostgreSQL store: the state in tables, for appliers on more than one machine.

Opt-in (``state: {backend: postgres, dsn: env:NAME}`` in reconciler.yaml). Each command
connects, brings the schema up to date (``state.pgschema``), and reads or, under a lease
(``state.pglease``), writes: compare-and-set on lineage and serial, fenced by the lease's
epoch, in one transaction. The journal is rows (``state.pgjournal``).

The DSN is a credential: it is kept out of ``repr`` and out of every message, which name the
database as ``host[:port]/dbname`` only; the driver's own messages (libpq's may quote the
connection string, or a user name) are never shown, only what kind of failure it was.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Collection, Iterator, Sequence

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow

from reconciler.errors import StateChangedError, StateError
from reconciler.state.entries import Entry, fold
from reconciler.state.merge import merged
from reconciler.state.model import Lockfile
from reconciler.state.pgjournal import PgJournal
from reconciler.state.pglease import (
    WHOLE_STATE,
    Lease,
    Renewer,
    fence,
    force_release,
    release,
    take,
)
from reconciler.state.pgschema import MIGRATIONS, migrate
from reconciler.state.pgtables import (
    clear_entries,
    current_version,
    put_state,
    read_entries,
    read_state,
    store_state,
)
from reconciler.state.store import LockHolder

Connection = psycopg.Connection[TupleRow]
# psycopg's own log lines quote libpq's messages and a connection's repr (host, user,
# database), at WARNING too, which Python prints even with no logging set up: never shown.
_DRIVER_LOG = logging.getLogger("psycopg")
_DRIVER_LOG.addHandler(logging.NullHandler())
_DRIVER_LOG.propagate = False
CONNECT_TIMEOUT = 10  # seconds
LEASE_SECONDS = 60.0

# What a failure was, by SQLSTATE: the driver's text is never shown.
_CAUSES = {
    "28P01": "authentication failed",
    "28000": "authentication failed",
    "3D000": "the database does not exist",
    "42501": "permission denied",
    "57P01": "the server ended the connection",
    # Set to the lease's length on every connection: a holder paused inside a transaction.
    "25P03": "the server ended the connection (idle in a transaction for longer than the lease)",
    "57P05": "the server ended the connection (idle for longer than its idle_session_timeout)",
    "57P03": "the server is starting up or shutting down",
    "53300": "too many connections",
}
# A failed connection carries no SQLSTATE: libpq's message is matched against known phrases
# (what it quotes around them, a user name or the connection string, is not shown).
_CONNECT_CAUSES = {
    "does not exist": "the database or role does not exist",
    "authentication failed": "authentication failed",
    "no pg_hba.conf entry": "the server does not accept this connection (pg_hba.conf)",
    "Connection refused": "connection refused",
    "timeout expired": "timed out",
    "could not translate host name": "the host name does not resolve",
    "No such file or directory": "no server socket there",
    "SSL": "the SSL negotiation failed",
}


def database_name(dsn: str) -> str:
    """``host[:port]/dbname``: how messages name the database, without user or password."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.Error:
        raise StateError(
            "the state's DSN is not a PostgreSQL connection string "
            "(postgresql://HOST/DBNAME or host=HOST dbname=DBNAME)"
        ) from None
    host = str(parts.get("host") or parts.get("hostaddr") or "localhost")
    port = parts.get("port")
    dbname = parts.get("dbname") or "(default database)"
    return f"{host}:{port}/{dbname}" if port else f"{host}/{dbname}"


def describe(exc: psycopg.Error) -> str:
    """What went wrong, without the driver's text (which may quote the connection string)."""
    state = exc.sqlstate
    if state in _CAUSES:
        return _CAUSES[state]
    if state is None or state.startswith("08"):
        text = str(exc)
        known = (why for phrase, why in _CONNECT_CAUSES.items() if phrase in text)
        return next(known, "no connection (the server is unreachable, or it closed it)")
    return f"the database refused it (SQLSTATE {state})"


class PgStore:
    """One state (``state``: a name, several may share a database) in PostgreSQL."""

    def __init__(
        self,
        dsn: str,
        *,
        state: str = "default",
        lease_seconds: float = LEASE_SECONDS,
        migrations: Sequence[str] = MIGRATIONS,
    ) -> None:
        self._dsn = dsn
        self.state = state
        self.lease_seconds = lease_seconds
        self.migrations = migrations
        self._name = f"PostgreSQL {database_name(dsn)}"

    def __repr__(self) -> str:
        return f"PgStore({self._name!r}, state={self.state!r})"

    @property
    def name(self) -> str:
        return self._name

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as exc:
            raise StateError(f"the state database {self._name}: {describe(exc)}") from None

    def connect(self, *, migrated: bool = True) -> Connection:
        with self.errors():
            conn = psycopg.connect(
                self._dsn,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT,
                application_name="reconciler",
            )
        try:
            with self.errors():
                conn.execute("SET TIME ZONE 'UTC'")
                # A holder paused inside a transaction (its fence holds the lease row) would
                # block every taker for as long as it sleeps: the server ends such a session
                # after the lease's length, and the lease is then taken over at once.
                conn.execute(
                    sql.SQL("SET idle_in_transaction_session_timeout = {}").format(
                        sql.Literal(max(1, int(self.lease_seconds * 1000)))
                    )
                )
                if migrated:
                    migrate(conn, self._name, self.migrations)
        except BaseException:
            conn.close()
            raise
        return conn

    def read(self) -> Lockfile:
        with contextlib.closing(self.connect()) as conn, self.errors():
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            with conn.transaction():  # the records and the journal as of one moment
                lock = read_state(conn, self.state, self._name)
                entries = read_entries(conn, self.state)
        return fold(lock, entries) if entries else lock

    @contextlib.contextmanager
    def locked(
        self, command: str, *, timeout: float = 0.0, scopes: Collection[str] = ()
    ) -> Iterator[LockedPg]:
        with contextlib.closing(self.connect()) as conn:
            with self.errors():
                leases = take(
                    conn,
                    self.state,
                    command,
                    scopes=scopes,
                    timeout=timeout,
                    seconds=self.lease_seconds,
                    where=self._name,
                )
            renewer = Renewer(lambda: self.connect(migrated=False), leases, self.lease_seconds)
            renewer.start()
            try:
                yield LockedPg(self, conn, leases, lambda: renewer.held_until)
            finally:
                renewer.stop()
                with contextlib.suppress(psycopg.Error):  # an expired lease is taken over
                    for lease in leases:
                        release(conn, lease)

    def force_unlock(self, lock_id: str) -> LockHolder:
        with contextlib.closing(self.connect()) as conn, self.errors():
            return force_release(conn, self.state, lock_id)


class LockedPg:
    """The PostgreSQL store under its leases: every write fenced by their epochs.

    Under the whole state's lease, a write is a compare-and-set on lineage and serial. Under
    provider instances' leases (``scoped``), others may write the other instances' records
    meanwhile: a write locks the state row, reads what is stored, lays this applier's changes
    to its instances over it (``state.merge``) and stores that with the next serial, in one
    short transaction; recover and clear_journal touch only its instances' journal entries.
    """

    def __init__(
        self,
        store: PgStore,
        conn: Connection,
        leases: Sequence[Lease],
        held_until: Callable[[], float] = lambda: float("inf"),
    ) -> None:
        self.store = store
        self._held_until = held_until
        self.leases = tuple(leases)
        self.scopes = frozenset(lease.scope for lease in leases if lease.scope != WHOLE_STATE)
        self.taken_over: LockHolder | None = next(
            (lease.taken_over for lease in leases if lease.taken_over is not None), None
        )
        self._conn = conn
        self._guard = threading.Lock()
        self._base: Lockfile | None = None  # what this applier last read or wrote

    @contextlib.contextmanager
    def _fenced(self) -> Iterator[Connection]:
        """One transaction that commits only while the leases are ours."""
        with self._guard, self.store.errors(), self._conn.transaction():
            for lease in self.leases:
                fence(self._conn, lease, self.store.name)
            yield self._conn

    def _entries(self, conn: Connection) -> list[Entry]:
        return read_entries(conn, self.store.state, self.scopes or None)

    def recover(self) -> bool:
        with self._fenced() as conn:
            entries = self._entries(conn)
            if not entries:
                return False
            current_version(conn, self.store.state)
            lock = read_state(conn, self.store.state, self.store.name)
            store_state(conn, self.store.state, fold(lock, entries))
            clear_entries(conn, self.store.state, self.scopes or None)
            return True

    def read(self) -> Lockfile:
        with self._guard, self.store.errors():
            self._base = read_state(self._conn, self.store.state, self.store.name)
            return self._base

    def write(self, lock: Lockfile) -> Lockfile:
        with self._fenced() as conn:
            lineage, serial = current_version(conn, self.store.state)
            if self.scopes and self._base is not None and lock.lineage in (lineage, ""):
                current = read_state(conn, self.store.state, self.store.name)
                lock = merged(self._base, lock, current, self.scopes)
            elif (lineage, serial) != (lock.lineage, lock.serial):
                raise StateChangedError(
                    f"{self.store.name} changed since it was read (serial {lock.serial} -> "
                    f"{serial}); nothing was written"
                )
            self._base = store_state(conn, self.store.state, lock)
            return self._base

    def replace(self, lock: Lockfile) -> Lockfile:
        with self._fenced() as conn:
            current_version(conn, self.store.state)  # the state row, locked
            self._base = put_state(conn, self.store.state, lock)
            return self._base

    def check_writable(self) -> None:
        with self._fenced():
            pass

    @contextlib.contextmanager
    def journal(self) -> Iterator[PgJournal]:
        yield PgJournal(
            self._conn,
            self._guard,
            self.leases,
            self.store.name,
            describe,
            self._held_until,
            margin=self.store.lease_seconds / 10,
        )

    def clear_journal(self) -> None:
        with self._fenced() as conn:
            clear_entries(conn, self.store.state, self.scopes or None)
