"""`watch` replicas sharing one PostgreSQL state: the provider instances (shards) split between
them, taken over when one is killed, split again when one joins; every run started once, as
the sandbox's database shows."""

from __future__ import annotations

import queue
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_watch import next_cycle, start_watch, stop_watch
from tests.resilience.pgchaos import PgWorld

INSTANCES = ["campaigns", "ctl", "elt", "etl"]


@pytest.fixture
def world(tmp_path: Path, pg_dsn: str) -> Iterator[PgWorld]:
    created = PgWorld(tmp_path, pg_dsn)  # leases of 2 s: a replica is dead after 2 s
    yield created
    created.close()


def shards_now(lines: queue.Queue[str]) -> list[str]:
    """The shards of the replica's next cycle that ended ok."""
    return list(next_cycle(lines, lambda c: c.get("status") == "ok")["shards"])


def until_split(replicas: list[queue.Queue[str]], timeout: float = 30) -> list[list[str]]:
    """Cycles until the replicas' shards are disjoint and cover every instance."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        split = [shards_now(lines) for lines in replicas]
        flat = sorted(s for shards in split for s in shards)
        if flat == INSTANCES:
            return split
    raise AssertionError(f"never split: {split}")


@pytest.mark.timeout(300)
def test_replicas_split_the_instances_and_take_over_a_killed_one(
    world: PgWorld, report_figure: Callable[[str], None]
) -> None:
    args = ("watch", "--interval", "3")  # longer than a takeover: that must be a wake-up
    replicas = [start_watch(world.repo, world.env, *args) for _ in range(2)]
    queues = [lines for _, lines in replicas]
    try:
        split = until_split(queues)
        assert all(split), split  # each has some: rendezvous hashing over two replicas
        time.sleep(2)  # the starts of every spec are made by their shards' owners
        world.assert_exactly_once()

        killed, survivor = replicas[0], replicas[1]
        while not survivor[1].empty():  # its cycles so far: the next ones are after the kill
            survivor[1].get_nowait()
        next_cycle(survivor[1], lambda c: True)  # just ended: its next interval is 3 s away
        killed[0].send_signal(signal.SIGKILL)
        killed[0].communicate(timeout=10)
        began = time.monotonic()
        # Its row expires after half a lease; the survivor's heartbeat sees its share grow
        # and wakes its loop, well before the next interval.
        took = next_cycle(survivor[1], lambda c: c.get("shards") == INSTANCES, timeout=15)
        taken_over = time.monotonic() - began
        assert took["trigger"] == "rebalance", took
        assert taken_over < 3, taken_over
        for name in ("etl-0", "ctl-1", "campaigns-0", "elt-1"):
            world.bump(name)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until the four runs are started and recorded
            seen: dict[str, Any] = next_cycle(survivor[1], lambda c: c.get("status") == "ok")
            if seen["actions"] and set(seen["actions"]) <= {"in-progress", "done"}:
                break
        world.assert_exactly_once()

        joined = start_watch(world.repo, world.env, *args)
        replicas.append(joined)
        split = until_split([survivor[1], joined[1]])
        assert all(split), split
        world.assert_exactly_once()
    finally:
        for process, _ in replicas:
            if process.poll() is None:
                stop_watch(process)
    report_figure(
        f"watch replicas: 2 split {len(INSTANCES)} instances; one killed, its shards taken "
        f"over in {taken_over:.1f}s (lease 2s); a third joined and took a share; "
        "0 duplicate starts"
    )
