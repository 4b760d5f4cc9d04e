"""Which scopes a refresh lists (issue 20): every scope a spec or a record uses, but one
where every run succeeded and every spec asks for no more than that."""

from __future__ import annotations

from reconciler.app.scopes import scopes
from reconciler.spec.runs import RunStatus
from reconciler.state.model import Lockfile
from tests.engine.test_plan import record, spec


def lock(*records: object) -> Lockfile:
    return Lockfile(lineage="l", serial=1, runs={r.name: r for r in records})  # type: ignore[attr-defined]


def test_a_scope_is_listed_unless_all_there_succeeded_and_asks_no_more() -> None:
    done = spec("done", scope="j1")
    new = spec("new", scope="j2")
    running = spec("running", scope="j3")
    kept = spec("kept", scope="j4", state="running")
    changed = spec("changed", scope="j5", rerun=1)
    waiting = spec("waiting", scope="j6", after=["done"])
    shared = spec("shared", scope="j1")  # beside "done", new: lists j1 after all
    state = lock(
        record(done, RunStatus.SUCCEEDED),
        record(running, RunStatus.RUNNING),
        record(kept, RunStatus.SUCCEEDED),
        record(spec("changed", scope="j5"), RunStatus.SUCCEEDED),  # of the old revision
        record(waiting, RunStatus.SUCCEEDED),
        record(spec("gone", scope="j7"), RunStatus.SUCCEEDED),  # its spec was removed
        record(spec("failed", scope="j8"), RunStatus.FAILED),
        record(spec("unconfirmed", scope="j9"), RunStatus.UNKNOWN, run_id=None),
    )
    everything = [done, new, running, kept, changed, waiting]
    assert scopes(state, everything) == {"etl": {"j2", "j3", "j4", "j5", "j6", "j8", "j9"}}
    assert scopes(state, [*everything, shared]) == {
        "etl": {"j1", "j2", "j3", "j4", "j5", "j6", "j8", "j9"}
    }
    # Before the specs are read: the scopes of records that have not succeeded.
    assert scopes(state, []) == {"etl": {"j3", "j8", "j9"}}
