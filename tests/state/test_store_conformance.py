"""What every state store must do (``state.store.StateStore``), as Terraform's ``TestFull``
is for its state managers. Each store joins the ``store`` fixture's parameters."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.errors import LockHeldError, StateChangedError, StateError
from reconciler.spec.runs import RunStatus, StopReason
from reconciler.state.files import StateFiles
from reconciler.state.filestore import FileStore
from reconciler.state.model import Lockfile, RunRecord
from reconciler.state.pgstore import PgStore
from reconciler.state.store import JournalWriter, StateStore

STORES: dict[str, Callable[[pytest.FixtureRequest, Path], StateStore]] = {
    "file": lambda _, root: FileStore(StateFiles(root / "reconciler.lock")),
    "postgres": lambda request, _: PgStore(request.getfixturevalue("pg_dsn")),
}


@pytest.fixture(params=list(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StateStore:
    return STORES[request.param](request, tmp_path)


def record(name: str, run_id: str | None = None) -> RunRecord:
    return RunRecord(
        name=name,
        instance="etl",
        provider_type="xplenty",
        revision="r1",
        key=f"k-{name}",
        attempt=1,
        run_id=run_id,
        status=RunStatus.UNKNOWN if run_id is None else RunStatus.RUNNING,
        job={"cluster_id": 1, "package_id": 2},
    )


def with_runs(lock: Lockfile, *records: RunRecord) -> Lockfile:
    return lock.model_copy(update={"runs": {**lock.runs, **{r.name: r for r in records}}})


def test_a_new_store_holds_an_empty_state(store: StateStore) -> None:
    state = store.read()
    assert (state.lineage, state.serial, state.runs) == ("", 0, {})


def test_writes_increment_the_serial_and_keep_one_lineage(store: StateStore) -> None:
    with store.locked("test") as state:
        first = state.write(with_runs(state.read(), record("a", "1")))
        second = state.write(with_runs(first, record("b", "2")))
    assert (first.serial, second.serial) == (1, 2)
    assert first.lineage
    assert second.lineage == first.lineage
    assert store.read() == second


def test_a_write_from_a_stale_read_is_refused(store: StateStore) -> None:
    with store.locked("test") as state:
        before = state.read()
        written = state.write(with_runs(before, record("a", "1")))
        with pytest.raises(StateChangedError):
            state.write(with_runs(before, record("b", "2")))
    assert store.read() == written


def test_replace_stores_a_state_as_it_is(store: StateStore) -> None:
    """What ``state push`` and ``pull`` rely on: lineage, serial and version kept, whatever
    was stored before."""
    pushed = with_runs(Lockfile(lineage="l-1", serial=41, reconciler_version="0.0.9"), record("a"))
    with store.locked("test") as state:
        state.write(with_runs(state.read(), record("b", "2")))
        assert state.replace(pushed) == pushed
    assert store.read() == pushed


def test_the_lock_is_exclusive_and_names_its_holder(store: StateStore) -> None:
    with (
        store.locked("reconciler apply"),
        pytest.raises(LockHeldError) as held,
        store.locked("reconciler watch"),
    ):
        pass  # pragma: no cover - refused
    assert "reconciler apply" in str(held.value)
    with store.locked("again"):  # released
        pass


def test_a_waiting_locker_gets_the_lock_when_it_is_released(store: StateStore) -> None:
    released = threading.Event()

    def hold() -> None:
        with store.locked("first"):
            time.sleep(0.3)
        released.set()

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(0.1)
    with store.locked("second", timeout=10):
        assert released.is_set()
    holder.join()


def test_a_journal_left_by_a_killed_apply_is_read_and_recovered(store: StateStore) -> None:
    async def actions(journal: JournalWriter) -> None:
        await journal.intent(record("a"))
        await journal.started("a", "41", RunStatus.PENDING, None)
        await journal.intent(record("b"))  # its answer lost: no run id
        await journal.stop_intent("c", "9", StopReason.SPEC)

    with store.locked("apply") as state:
        state.write(with_runs(state.read(), record("c", "9")))
        with state.journal() as journal:
            asyncio.run(actions(journal))
        # killed here: no write, no clear
    seen = store.read()  # folded in memory, as plan and show see it
    assert (seen.runs["a"].run_id, seen.runs["b"].run_id) == ("41", None)
    assert seen.runs["c"].stop_reason is StopReason.SPEC
    with store.locked("next apply") as state:
        assert state.recover() is True
        assert state.read().runs == seen.runs
        assert state.recover() is False  # cleared
    assert store.read().runs == seen.runs


def test_clear_journal_after_the_records_are_written(store: StateStore) -> None:
    with store.locked("apply") as state:
        with state.journal() as journal:
            asyncio.run(journal.intent(record("a")))
        written = state.write(with_runs(state.read(), record("a", "5")))
        state.clear_journal()
        assert state.recover() is False
    assert store.read() == written


def test_force_unlock_refuses_a_live_holder_and_a_free_lock(store: StateStore) -> None:
    with store.locked("apply"), pytest.raises(StateError, match="held by a live process"):
        store.force_unlock("0123456789ab")
    with pytest.raises(StateError):
        store.force_unlock("0123456789ab")


def test_a_new_store_is_writable(store: StateStore) -> None:
    with store.locked("apply") as state:
        state.check_writable()
