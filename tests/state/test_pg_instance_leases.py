"""Leases per provider instance on the PostgreSQL store (``state.pglease``, ``state.merge``):
holders of disjoint instances hold at once and both writes land; one instance is held by one
holder at a time, and the whole state by none beside them; a holder whose lease was taken
over is fenced on its scope only; journal entries are replayed by their instance's holder."""

from __future__ import annotations

import asyncio
import threading
import time

import psycopg
import pytest

from reconciler.errors import JournalWriteError, LeaseLostError, LockHeldError
from reconciler.state.model import Lockfile, RunRecord
from reconciler.state.pgstore import PgStore
from tests.state.test_store_conformance import record, with_runs


def on(instance: str, name: str, run_id: str | None = None) -> RunRecord:
    return record(name, run_id).model_copy(update={"instance": instance})


def test_holders_of_disjoint_instances_hold_at_once_and_both_writes_land(pg_dsn: str) -> None:
    store = PgStore(pg_dsn)
    with store.locked("seed") as state:
        state.write(with_runs(state.read(), on("a", "a0", "1"), on("b", "b0", "2")))
    with store.locked("apply a", scopes=["a"]) as a, store.locked("apply b", scopes=["b"]) as b:
        base_a, base_b = a.read(), b.read()  # the same state, read by both
        written_b = b.write(with_runs(base_b, on("b", "b1", "3")))
        written_a = a.write(with_runs(base_a, on("a", "a1", "4")).model_copy(update={"runs": {}}))
    # a dropped every record it read; only its own instance's went: b's stayed, b's new one too
    assert sorted(written_a.runs) == ["b0", "b1"]
    assert (written_b.serial, written_a.serial) == (2, 3)
    assert store.read() == written_a


def test_one_instance_is_held_once_and_the_second_taker_is_told_the_holder(pg_dsn: str) -> None:
    store = PgStore(pg_dsn)
    with store.locked("reconciler apply --target x", scopes=["a", "b"]):
        second = store.locked("reconciler apply --target y", scopes=["b", "c"])
        with pytest.raises(LockHeldError) as refused, second:
            pass
        message = str(refused.value)
        assert message.startswith(
            f"provider instance b of the state {store.name} is locked by pid "
        )
        assert "(reconciler apply --target x, since " in message
        with store.locked("other", scopes=["c"]):  # c was not kept: all or none
            pass


@pytest.mark.parametrize(
    ("first", "second", "refused"),
    [
        ((), ("a",), "provider instance a of the state"),
        (("a",), (), "the state"),
    ],
    ids=["whole-then-instance", "instance-then-whole"],
)
def test_the_whole_state_and_any_instance_exclude_each_other(
    pg_dsn: str, first: tuple[str, ...], second: tuple[str, ...], refused: str
) -> None:
    store = PgStore(pg_dsn)
    with store.locked("first", scopes=first):
        taken = store.locked("second", scopes=second)
        with pytest.raises(LockHeldError, match=f"^{refused} .* is locked by pid .*\\(first, "):
            taken.__enter__()


def test_a_waiting_taker_of_an_instance_gets_it_when_released(pg_dsn: str) -> None:
    store = PgStore(pg_dsn)
    released = threading.Event()

    def hold() -> None:
        with store.locked("first", scopes=["a"]):
            time.sleep(0.5)
        released.set()

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(0.2)
    with store.locked("second", scopes=["a"], timeout=10):
        assert released.is_set()
    holder.join()


def expire(dsn: str, scope: str) -> None:
    """As if the holder of ``scope`` had been paused past its lease."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE leases SET expires_at = now() - interval '1 second' WHERE scope = %s",
            (scope,),
        )


def test_a_holder_whose_instance_was_taken_over_is_fenced_and_others_are_not(
    pg_dsn: str,
) -> None:
    store = PgStore(pg_dsn)
    with store.locked("paused", scopes=["a"]) as paused, store.locked("b", scopes=["b"]) as b:
        base = paused.read()
        b.read()
        expire(pg_dsn, "a")
        with store.locked("successor", scopes=["a"]) as successor:
            successor.write(with_runs(successor.read(), on("a", "a1", "1")))
            lost = r"^the lock on provider instance a of the state .* \(epoch 1\) expired and was"
            with pytest.raises(LeaseLostError, match=lost):
                paused.write(with_runs(base, on("a", "a1", "late")))
            refused = pytest.raises(JournalWriteError, match="expired and was taken by pid")
            with refused, paused.journal() as journal:
                asyncio.run(journal.intent(on("a", "a2")))
            b.write(with_runs(b.read(), on("b", "b1", "2")))  # b's lease is its own
    runs = store.read().runs
    assert (runs["a1"].run_id, runs["b1"].run_id) == ("1", "2")
    assert "a2" not in runs


def test_journal_entries_are_replayed_by_their_instance_s_holder_only(pg_dsn: str) -> None:
    store = PgStore(pg_dsn)
    with store.locked("killed a", scopes=["a"]) as a, a.journal() as journal:
        asyncio.run(journal.intent(on("a", "a1")))  # then killed: its entries stay
    with store.locked("live b", scopes=["b"]) as b, b.journal() as journal:
        asyncio.run(journal.intent(on("b", "b1")))
        with store.locked("next on a", scopes=["a"]) as next_a:
            assert next_a.recover()  # a's entry, not b's, which b is still applying
            assert sorted(next_a.read().runs) == ["a1"]
        asyncio.run(journal.started("b1", "7", record("b1", "7").status, None))
        b.write(with_runs(b.read(), on("b", "b1", "7")))
        b.clear_journal()
    with store.locked("whole") as whole:
        assert not whole.recover()  # nothing left over
        lock: Lockfile = whole.read()
    assert {n: r.run_id for n, r in lock.runs.items()} == {"a1": None, "b1": "7"}
