"""A state in PostgreSQL tables, and back: the state row (lineage, serial, source), one row per
record, per provider and per schedule; the journal as ``intents`` and ``stop_intents`` rows.

Functions of one connection, run inside the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import LiteralString

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow
from pydantic import ValidationError

from reconciler import __version__
from reconciler.errors import StateError
from reconciler.spec.runs import RunStatus, StopReason
from reconciler.state.entries import (
    Entry,
    IntentEntry,
    StartedEntry,
    StopEntry,
    StopIntentEntry,
)
from reconciler.state.model import (
    Lockfile,
    ProviderState,
    RunRecord,
    ScheduleState,
    SourceCommit,
    new_lockfile,
)

Connection = psycopg.Connection[TupleRow]


def read_state(conn: Connection, state: str, where: str) -> Lockfile:
    row = conn.execute(
        "SELECT lineage, serial, reconciler_version, source_commit, source_dirty"
        " FROM states WHERE state = %s",
        (state,),
    ).fetchone()
    if row is None or (row[0], row[1]) == ("", 0):
        return new_lockfile()
    lineage, serial, version, commit, dirty = row
    source = SourceCommit(commit=commit, dirty=bool(dirty)) if commit is not None else None
    try:
        return Lockfile(
            lineage=lineage,
            serial=serial,
            reconciler_version=version,
            source=source,
            providers={
                n: ProviderState.model_validate_json(d) for n, d in _pairs(conn, _PROVIDERS, state)
            },
            runs={n: RunRecord.model_validate_json(d) for n, d in _pairs(conn, _RECORDS, state)},
            schedules={
                n: ScheduleState.model_validate_json(d) for n, d in _pairs(conn, _SCHEDULES, state)
            },
        )
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where_in = ".".join(str(p) for p in first["loc"])
        raise StateError(
            f"the state in {where} does not read as a state ({where_in}: {first['msg']}); "
            "was it edited by hand?"
        ) from None


_PROVIDERS: LiteralString = (
    "SELECT instance, provider::text FROM provider_states WHERE state = %s ORDER BY instance"
)
_RECORDS: LiteralString = "SELECT name, record::text FROM records WHERE state = %s ORDER BY name"
_SCHEDULES: LiteralString = (
    "SELECT name, schedule::text FROM schedules WHERE state = %s ORDER BY name"
)


def _pairs(conn: Connection, sql: LiteralString, state: str) -> list[tuple[str, str]]:
    return [(str(k), str(v)) for k, v in conn.execute(sql, (state,)).fetchall()]


def current_version(conn: Connection, state: str) -> tuple[str, int]:
    """Lineage and serial, the state row locked until the transaction ends."""
    conn.execute(
        "INSERT INTO states (state, lineage, serial) VALUES (%s, '', 0) ON CONFLICT DO NOTHING",
        (state,),
    )
    row = conn.execute(
        "SELECT lineage, serial FROM states WHERE state = %s FOR UPDATE", (state,)
    ).fetchone()
    assert row is not None
    return str(row[0]), int(row[1])


def store_state(conn: Connection, state: str, lock: Lockfile) -> Lockfile:
    """Replace the stored state with ``lock``, its serial incremented; what was stored."""
    written = lock.model_copy(
        update={
            "serial": lock.serial + 1,
            "lineage": lock.lineage or str(uuid.uuid4()),
            "reconciler_version": __version__,
        }
    )
    return put_state(conn, state, written)


def put_state(conn: Connection, state: str, written: Lockfile) -> Lockfile:
    """Replace the stored state with ``written`` as it is (its serial and lineage kept)."""
    source = written.source
    conn.execute(
        "UPDATE states SET lineage = %s, serial = %s, reconciler_version = %s,"
        " source_commit = %s, source_dirty = %s WHERE state = %s",
        (
            written.lineage,
            written.serial,
            written.reconciler_version,
            source.commit if source else None,
            source.dirty if source else None,
            state,
        ),
    )
    conn.execute("DELETE FROM records WHERE state = %s", (state,))
    conn.execute("DELETE FROM provider_states WHERE state = %s", (state,))
    conn.execute("DELETE FROM schedules WHERE state = %s", (state,))
    with conn.cursor() as cursor:
        with cursor.copy(
            "COPY records (state, name, instance, run_key, run_id, record) FROM STDIN"
        ) as copy:
            for r in written.runs.values():
                copy.write_row(
                    (state, r.name, r.instance, r.run_key, r.run_id, r.model_dump_json())
                )
        with cursor.copy("COPY provider_states (state, instance, provider) FROM STDIN") as copy:
            for name, p in written.providers.items():
                copy.write_row((state, name, p.model_dump_json()))
        with cursor.copy("COPY schedules (state, name, schedule) FROM STDIN") as copy:
            for name, s in written.schedules.items():
                copy.write_row((state, name, s.model_dump_json()))
    return written


def read_entries(
    conn: Connection, state: str, instances: Collection[str] | None = None
) -> list[Entry]:
    """The journal's entries in the order they were made: each intent or stop intent, with
    the outcome recorded on its row just after it. ``instances``: only theirs."""
    rows = conn.execute(
        "SELECT seq, name, record::text, run_id, status, started_at, NULL FROM intents"
        " WHERE state = %(state)s AND (%(all)s OR instance = ANY(%(instances)s))"
        " UNION ALL SELECT seq, name, NULL, run_id, status, NULL, reason FROM stop_intents"
        " WHERE state = %(state)s AND (%(all)s OR instance = ANY(%(instances)s)) ORDER BY 1",
        {"state": state, "all": instances is None, "instances": sorted(instances or ())},
    ).fetchall()
    entries: list[Entry] = []
    for _, name, record, run_id, status, started_at, reason in rows:
        if record is not None:
            entries.append(IntentEntry(record=RunRecord.model_validate_json(record)))
            if run_id is not None:
                entries.append(
                    StartedEntry(
                        name=name, run_id=run_id, status=RunStatus(status), started_at=started_at
                    )
                )
        else:
            entries.append(StopIntentEntry(name=name, run_id=run_id, reason=StopReason(reason)))
            if status is not None:
                entries.append(
                    StopEntry(
                        name=name,
                        run_id=run_id,
                        reason=StopReason(reason),
                        status=RunStatus(status),
                    )
                )
    return entries


def clear_entries(conn: Connection, state: str, instances: Collection[str] | None = None) -> int:
    """Delete the journal (``instances``: only their entries); how many rows it had."""
    params = {"state": state, "all": instances is None, "instances": sorted(instances or ())}
    count = 0
    for table in (sql.Identifier("intents"), sql.Identifier("stop_intents")):
        count += conn.execute(
            sql.SQL(
                "DELETE FROM {} WHERE state = %(state)s"
                " AND (%(all)s OR instance = ANY(%(instances)s))"
            ).format(table),
            params,
        ).rowcount
    return count
