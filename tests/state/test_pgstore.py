"""What the PostgreSQL store does beyond the conformance suite: one start per run key at
commit, the lease's fence, schema migrations, and a DSN that no message shows."""

from __future__ import annotations

import asyncio
import threading
import time

import psycopg
import pytest

from reconciler.errors import (
    JournalWriteError,
    LeaseLostError,
    LockHeldError,
    StateChangedError,
    StateError,
)
from reconciler.spec.runs import RunStatus
from reconciler.state.pgschema import MIGRATIONS
from reconciler.state.pgstore import PgStore
from tests import pgserver
from tests.pgserver import PASSWORD, PgServer
from tests.state.test_store_conformance import record, with_runs


def sql(dsn: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute(query.encode())
        return cursor.fetchall() if cursor.description else []


def test_a_second_intent_for_one_run_key_is_refused_at_commit(pg_dsn: str) -> None:
    store = PgStore(pg_dsn)
    with store.locked("apply") as state:
        with state.journal() as first, state.journal() as second:
            asyncio.run(first.intent(record("a")))
            with pytest.raises(JournalWriteError, match="already has an intent") as refused:
                asyncio.run(second.intent(record("a")))
            assert record("a").run_key in str(refused.value)
            with pytest.raises(JournalWriteError):  # and nothing more begins through it
                asyncio.run(second.intent(record("b")))
        assert sql(pg_dsn, "SELECT name, run_key FROM intents") == [("a", "k-a-1")]
        with state.journal() as journal:  # a refused start voids its intent: the key is free
            asyncio.run(journal.start_failed("a"))
            asyncio.run(journal.intent(record("a")))
            asyncio.run(journal.started("a", "41", RunStatus.PENDING, None))
    assert store.read().runs["a"].run_id == "41"


def expire(dsn: str) -> None:
    """What a holder paused past its lease (SIGSTOP) finds: the lease expired."""
    sql(dsn, "UPDATE leases SET expires_at = now() - interval '1 second'")


def test_a_write_with_a_stale_epoch_is_refused(pg_dsn: str) -> None:
    store = PgStore(pg_dsn)
    lease = store.locked("reconciler apply (paused)")
    paused = lease.__enter__()
    before = paused.read()
    expire(pg_dsn)
    with store.locked("reconciler apply") as successor:
        assert successor.taken_over is not None
        assert successor.taken_over.command == "reconciler apply (paused)"
        written = successor.write(with_runs(successor.read(), record("b", "2")))
        with pytest.raises(LeaseLostError, match=r"epoch 1\) expired and was taken by"):
            paused.write(with_runs(before, record("a", "1")))
        with paused.journal() as journal, pytest.raises(JournalWriteError, match="taken"):
            asyncio.run(journal.intent(record("a")))
        for refused in (paused.check_writable, paused.clear_journal, paused.recover):
            with pytest.raises(LeaseLostError):
                refused()
        lease.__exit__(None, None, None)  # the paused holder's release frees nothing of ours
        with pytest.raises(LockHeldError, match=r"\(reconciler apply,"), store.locked("third"):
            pass  # pragma: no cover - refused
    assert store.read() == written
    assert sql(pg_dsn, "SELECT count(*) FROM intents") == [(0,)]


def test_a_held_lease_is_renewed_and_an_abandoned_one_expires(pg_dsn: str) -> None:
    store = PgStore(pg_dsn, lease_seconds=0.3)
    with store.locked("long apply"):
        time.sleep(0.8)  # past its length: renewed meanwhile
        with pytest.raises(LockHeldError), store.locked("other"):
            pass  # pragma: no cover - refused
    # a holder that died stops renewing: its lease expires and is taken over
    sql(
        pg_dsn,
        "UPDATE leases SET holder_id = 'dead00000000', pid = 1, host = 'gone', "
        "command = 'killed apply', since = 'then', expires_at = now() + interval '0.2 second',"
        " backend_pid = NULL",  # no connection to go by: its expiry alone tells
    )
    with pytest.raises(LockHeldError, match="killed apply"), store.locked("too early"):
        pass  # pragma: no cover - refused
    with store.locked("later", timeout=5) as state:
        assert state.taken_over is not None
        assert state.taken_over.id == "dead00000000"


def test_a_holder_that_cannot_renew_begins_no_call_that_acts_and_steps_down(
    pg_dsn: str,
) -> None:
    """A request that acts (its timeout 0.8 s) needs 0.8 s and a tenth of the lease left: with
    the lease renewed every sixth of its 2 s, it is sent at once, however long the holder
    works. Renewals blocked (the lease row locked, as by a database that stops answering),
    it waits, then is refused before the lease ends; reads go on until the deadline."""
    store = PgStore(pg_dsn, lease_seconds=2)
    with store.locked("watch cycle") as state, state.journal() as journal:
        began = time.monotonic()
        while time.monotonic() - began < 2.5:  # past the lease's length: renewed meanwhile
            waited = time.monotonic()
            asyncio.run(journal.held_for(0.8))
            assert time.monotonic() - waited < 0.5
            time.sleep(0.1)
        with psycopg.connect(pg_dsn) as blocker:
            blocker.execute(b"SELECT 1 FROM leases FOR UPDATE")  # until the block ends
            blocked = time.monotonic()

            async def one_call_after_another() -> None:  # as a cycle's starts come
                for _ in range(40):
                    await journal.held_for(0.8)
                    await asyncio.sleep(0.1)

            with pytest.raises(JournalWriteError, match="may have expired"):
                asyncio.run(one_call_after_another())
            refused = time.monotonic() - blocked
            with pytest.raises(JournalWriteError):  # and nothing at all after that
                journal.check_held()
            expires = sql(pg_dsn, "SELECT expires_at > now() FROM leases WHERE scope = ''")
            blocker.rollback()
    assert refused < 2 * 0.8  # at the latest when its sure part (80% of the lease) ended
    assert expires == [(True,)]  # refused while the lease was still this holder's


def test_force_unlock_clears_an_expired_lease_and_fences_its_holder(pg_dsn: str) -> None:
    store = PgStore(pg_dsn)
    with store.locked("apply") as gone:
        expire(pg_dsn)
        lock_id = sql(pg_dsn, "SELECT holder_id FROM leases")[0][0]
        with pytest.raises(StateError, match="not"):
            store.force_unlock("0123456789ab")
        assert store.force_unlock(str(lock_id)).command == "apply"
        with pytest.raises(LeaseLostError):
            gone.write(gone.read())


def test_the_schema_is_migrated_from_an_older_version_keeping_the_state(pg_dsn: str) -> None:
    old = PgStore(pg_dsn)
    with old.locked("apply") as state:
        written = state.write(with_runs(state.read(), record("a", "1")))
    newer = (*MIGRATIONS, "ALTER TABLE records ADD COLUMN note text;")
    assert PgStore(pg_dsn, migrations=newer).read() == written
    assert sql(pg_dsn, "SELECT version FROM schema_version") == [(len(newer),)]
    with pytest.raises(StateError, match=f"schema version {len(newer)}.*upgrade reconciler"):
        old.read()


def test_a_new_database_is_migrated_once_by_concurrent_commands(pg_dsn: str) -> None:
    errors: list[BaseException] = []

    def read() -> None:
        try:
            PgStore(pg_dsn).read()
        except BaseException as exc:  # pragma: no cover - the failure reported below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sql(pg_dsn, "SELECT version FROM schema_version") == [(len(MIGRATIONS),)]


def test_states_in_one_database_are_apart(pg_dsn: str) -> None:
    one, two = PgStore(pg_dsn, state="one"), PgStore(pg_dsn, state="two")
    with one.locked("apply") as a, two.locked("apply") as b:
        a.write(with_runs(a.read(), record("a", "1")))
        with pytest.raises(StateChangedError):
            b.write(with_runs(a.read(), record("b", "2")))
    assert list(two.read().runs) == []


@pytest.mark.parametrize(
    ("dbname", "port", "cause"),
    [
        ("missing", None, "the database or role does not exist"),
        ("postgres", "closed", "connection refused"),
    ],
)
def test_the_dsn_is_in_no_message(
    pg_server: PgServer, dbname: str, port: str | None, cause: str
) -> None:
    dsn = pg_server.dsn(dbname)
    if port == "closed":
        dsn = dsn.replace(f":{pg_server.port}/", ":1/")
    store = PgStore(dsn)
    with pytest.raises(StateError) as failed:
        store.read()
    message = str(failed.value)
    where = f"127.0.0.1:{pg_server.port if port is None else 1}/{dbname}"
    assert message == f"the state database PostgreSQL {where}: {cause}"
    assert PASSWORD not in repr(store)


def test_a_session_ended_for_idling_in_a_transaction_says_so(pg_dsn: str) -> None:
    """A holder paused inside a transaction past its lease: the server ends its session
    (idle_in_transaction_session_timeout, set to the lease). Whether the client then reads
    the server's goodbye (SQLSTATE 25P03) or finds the socket closed, it says why."""
    store = PgStore(pg_dsn, lease_seconds=0.2)
    conn = store.connect(migrated=False)

    def pause_inside_a_transaction() -> None:
        with store.errors(), conn.transaction():
            conn.execute("SELECT 1")
            time.sleep(1.0)  # as if stopped: the server gives up on the session
            conn.execute("SELECT 1")

    try:
        with pytest.raises(StateError) as failed:
            pause_inside_a_transaction()
    finally:
        conn.close()
    where = pg_dsn.rsplit("@", 1)[1].split("?")[0]
    message = str(failed.value)
    assert message.startswith(f"the state database PostgreSQL {where}: "), message
    assert "the server ended the connection" in message or "no connection" in message, message


def test_a_dsn_that_does_not_parse_is_not_quoted() -> None:
    with pytest.raises(StateError) as failed:
        PgStore(f"host=db password={PASSWORD} sslmode")
    assert PASSWORD not in str(failed.value)
    assert "not a PostgreSQL connection string" in str(failed.value)


def test_without_postgresql_tests_skip_locally_and_fail_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pgserver, "find_bindir", lambda: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="cannot run under CI=true"):
        pgserver.server_or_skip()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="apt-get install postgresql"):
        pgserver.server_or_skip()
