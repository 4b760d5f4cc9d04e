"""A stop made by reconciler is known as such, even when its answer is never recorded.

A SIGKILL while a stop call is under way (the sandbox's ``slow_stop`` holds it open) leaves the
run stopped at the provider and nothing recorded after the call; only the stop's intent in the
journal can tell that reconciler stopped it.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.resilience.world import World

SLOW_STOP = "faults:\n  xplenty: {slow_stop: 3}\n"
SPEC = "etl-0"  # package 1000


def _xplenty_runs(world: World) -> list[float | None]:
    """``stop_at`` of each run of the spec's package: None while not stopped."""
    with sqlite3.connect(world.db) as db:
        rows = db.execute("SELECT stop_at FROM xplenty_jobs WHERE package_id = 1000 ORDER BY id")
        return [stop_at for (stop_at,) in rows]


def _kill_during_the_stop_call(world: World) -> None:
    apply = world.start(
        "apply", "--auto-approve", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 20
    while not world.journal.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(1.0)  # the journal opens just before the actions: the stop call is held open
    apply.send_signal(signal.SIGKILL)
    apply.wait(10)
    while _xplenty_runs(world)[-1] is None and time.monotonic() < deadline:
        time.sleep(0.1)  # the sandbox still acts on the call, after its slow_stop delay


@pytest.mark.timeout(120)
def test_a_run_stopped_under_a_killed_apply_is_started_again_when_asked(tmp_path: Path) -> None:
    world = World(tmp_path, seed=SLOW_STOP, per_provider=1)
    try:
        world.set_state(SPEC, "running")
        world.converge()
        world.set_state(SPEC, "stopped")
        _kill_during_the_stop_call(world)
        assert _xplenty_runs(world)[-1] is not None, "the kill did not land during the stop"

        world.advance(60)  # past the stop's phases: the run is stopped, no longer stopping
        world.set_state(SPEC, "running")
        outputs = world.converge()
        runs = _xplenty_runs(world)
    finally:
        world.close()
    assert "stopped outside reconciler" not in "\n".join(outputs)
    assert len(runs) == 2, (runs, "\n".join(outputs))
    assert [stop_at is None for stop_at in runs] == [False, True]  # exactly one active run
