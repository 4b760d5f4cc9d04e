"""``state.merge.merged``: an applier's changes to its own provider instances laid over what
others stored meanwhile (the write under per-instance leases)."""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.state.merge import merged
from reconciler.state.model import Lockfile, ProviderState, ScheduleState
from tests.state.test_pg_instance_leases import on

T0 = datetime(2026, 12, 6, tzinfo=UTC)


def state(*records: object, schedules: dict[str, ScheduleState] | None = None) -> Lockfile:
    return Lockfile(
        lineage="l",
        serial=1,
        runs={r.name: r for r in records},  # type: ignore[attr-defined]
        schedules=schedules or {},
    )


def test_records_of_its_instances_are_its_own_and_the_rest_as_stored() -> None:
    base = state(on("a", "a1", "1"), on("a", "gone", "2"), on("b", "b1", "3"))
    mine = state(on("a", "a1", "10"), on("a", "new", "11"), on("b", "b1", "stale"))
    current = state(
        on("a", "a1", "1"), on("a", "gone", "2"), on("b", "b1", "30"), on("c", "c", "4")
    )
    result = merged(base, mine, current, {"a"})
    assert {n: r.run_id for n, r in result.runs.items()} == {
        "a1": "10",  # changed by it
        "new": "11",  # added by it
        "b1": "30",  # another instance's: as stored, not its stale copy
        "c": "4",  # written by another applier since its read
    }  # "gone": removed by it
    assert (result.lineage, result.serial) == ("l", 1)  # the store sets the next serial


def test_schedules_it_changed_and_providers_of_its_instances() -> None:
    first, later = ScheduleState(since=T0), ScheduleState(since=T0.replace(hour=5))
    base = state(schedules={"x": first, "y": first})
    mine = state(schedules={"x": later, "y": first}).model_copy(
        update={"providers": {"a": ProviderState(observed_at=T0), "b": ProviderState()}}
    )
    current = state(schedules={"y": later, "z": first}).model_copy(
        update={"providers": {"b": ProviderState(observed_at=T0)}}
    )
    result = merged(base, mine, current, {"a"})
    assert result.schedules == {"x": later, "y": later, "z": first}
    assert result.providers == {
        "a": ProviderState(observed_at=T0),
        "b": ProviderState(observed_at=T0),
    }
