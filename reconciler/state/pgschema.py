"""The PostgreSQL store's schema, created and migrated by reconciler itself.

``MIGRATIONS`` is ordered and only ever appended to: the database's ``schema_version`` says
how many have run, and each command runs the rest, in one transaction, under an advisory lock
(two appliers starting at once migrate once). A database migrated by a newer reconciler is
refused rather than written in a shape this one does not know.

Every table is keyed by ``state`` (one database may hold several states; a store names its
own), and leases by ``(state, scope)``: the scope ``''`` is the whole state, any other a
provider instance (``state.pglease``).
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg.rows import TupleRow

from reconciler import __version__
from reconciler.errors import StateError

# A key for pg_advisory_xact_lock: migrations of one database run one at a time.
_MIGRATION_LOCK = 0x7265636F6E63  # "reconc"

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE states (
        state text PRIMARY KEY,
        lineage text NOT NULL,
        serial bigint NOT NULL CHECK (serial >= 0),
        reconciler_version text,
        source_commit text,
        source_dirty boolean
    );
    CREATE TABLE records (
        state text NOT NULL REFERENCES states ON DELETE CASCADE,
        name text NOT NULL,
        instance text NOT NULL,
        run_key text NOT NULL,
        run_id text,
        record jsonb NOT NULL,
        PRIMARY KEY (state, name)
    );
    CREATE TABLE provider_states (
        state text NOT NULL REFERENCES states ON DELETE CASCADE,
        instance text NOT NULL,
        provider jsonb NOT NULL,
        PRIMARY KEY (state, instance)
    );
    CREATE TABLE schedules (
        state text NOT NULL REFERENCES states ON DELETE CASCADE,
        name text NOT NULL,
        schedule jsonb NOT NULL,
        PRIMARY KEY (state, name)
    );
    CREATE TABLE leases (
        state text NOT NULL,
        scope text NOT NULL,
        epoch bigint NOT NULL DEFAULT 0,
        holder_id text,
        pid integer,
        host text,
        command text,
        since text,
        expires_at timestamptz,
        PRIMARY KEY (state, scope)
    );
    CREATE SEQUENCE journal_seq;
    CREATE TABLE intents (
        state text NOT NULL,
        seq bigint NOT NULL DEFAULT nextval('journal_seq'),
        epoch bigint NOT NULL,
        name text NOT NULL,
        run_key text NOT NULL,
        record jsonb NOT NULL,
        run_id text,
        status text,
        started_at timestamptz,
        PRIMARY KEY (state, seq),
        CONSTRAINT intents_one_start_per_run_key UNIQUE (state, run_key)
    );
    CREATE TABLE stop_intents (
        state text NOT NULL,
        seq bigint NOT NULL DEFAULT nextval('journal_seq'),
        epoch bigint NOT NULL,
        name text NOT NULL,
        run_id text NOT NULL,
        reason text NOT NULL,
        status text,
        PRIMARY KEY (state, seq)
    );
    """,
    # 2: per-instance leases. A journal entry names its provider instance, so an applier
    # holding some instances' leases replays and clears only theirs.
    """
    ALTER TABLE intents ADD COLUMN instance text;
    ALTER TABLE stop_intents ADD COLUMN instance text;
    """,
    # 3: the server process of the holder's connection: a lease whose holder's connection is
    # gone (a killed applier: the kernel closes its socket) is taken over before it expires.
    """
    ALTER TABLE leases ADD COLUMN backend_pid integer;
    """,
    # 4: a start's outcome finds its intent by spec name (the latest without a run id), and a
    # stop's by name and run id: without these, each of N starts read every intent (N^2).
    """
    CREATE INDEX intents_by_name ON intents (state, name, seq);
    CREATE INDEX stop_intents_by_name ON stop_intents (state, name, run_id, seq);
    """,
    # 5: notifications `watch` sent (or is sending), one row per event and target: whichever
    # replica inserts it sends it, so each is sent once however many replicas see the event.
    """
    CREATE TABLE notifications (
        state text NOT NULL,
        key text NOT NULL,
        claimed_at timestamptz NOT NULL DEFAULT now(),
        sent_at timestamptz,
        PRIMARY KEY (state, key)
    );
    """,
    # 6: the `watch` replicas of a state, each alive until `expires_at` (renewed by a heartbeat):
    # who shares the provider instances (shards) out.
    """
    CREATE TABLE replicas (
        state text NOT NULL,
        replica_id text NOT NULL,
        host text NOT NULL,
        pid integer NOT NULL,
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (state, replica_id)
    );
    """,
    # 7: when a `watch` replica last took each provider instance's lease for a cycle: an
    # instance no replica has worked on for longer than an interval and a lease, and whose
    # lease no one holds, is unowned (told once, by whichever replica sees it).
    """
    CREATE TABLE shards (
        state text NOT NULL,
        instance text NOT NULL,
        replica_id text NOT NULL,
        host text NOT NULL,
        worked_at timestamptz NOT NULL,
        PRIMARY KEY (state, instance)
    );
    """,
)


def migrate(conn: psycopg.Connection[TupleRow], where: str, migrations: Sequence[str]) -> int:
    """Bring the schema up to ``len(migrations)``; the version it is at, afterwards."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version integer NOT NULL, reconciler_version text NOT NULL)"
        )
        row = conn.execute("SELECT version, reconciler_version FROM schema_version").fetchone()
        current = 0 if row is None else int(row[0])
        if current > len(migrations):
            writer = row[1] if row is not None else "?"
            raise StateError(
                f"the state database {where} has schema version {current}, written by "
                f"reconciler {writer}; this is reconciler {__version__}, which knows up to "
                f"version {len(migrations)}: upgrade reconciler"
            )
        for sql in migrations[current:]:
            conn.execute(sql.encode())
        if current < len(migrations):
            conn.execute("DELETE FROM schema_version")
            conn.execute(
                "INSERT INTO schema_version VALUES (%s, %s)", (len(migrations), __version__)
            )
        return len(migrations)
