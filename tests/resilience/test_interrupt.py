"""Ctrl-C or a cancelled CI job during an apply: the first signal lets the actions under way
finish and be recorded, and begins no other; a second one stops at once. Either way, the next
apply converges with every run started exactly once."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.resilience.world import World


def _latency(seconds: float) -> str:
    return "faults:\n" + "".join(
        f"  {name}: {{latency: {seconds}}}\n"
        for name in ("xplenty", "runner", "vonage", "matatika")
    )


LATENCY = _latency(0.05)
# Calls that outlast the 50 ms between two signals: the second comes while the first still
# waits for the calls under way (at 50 ms, they could all have ended in between).
SLOW = _latency(0.5)


def _interrupted_apply(world: World, *signals: signal.Signals) -> subprocess.CompletedProcess[str]:
    """An apply sent ``signals`` once its first start is confirmed in the journal."""
    apply = world.start("apply", "--auto-approve")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if world.journal.exists() and '"op":"started"' in world.journal.read_text():
            break
        time.sleep(0.005)
    for signum in signals:
        apply.send_signal(signum)
        time.sleep(0.05)
    out, err = apply.communicate(timeout=60)
    return subprocess.CompletedProcess(apply.args, apply.returncode, out, err)


@pytest.mark.timeout(300)
def test_one_interrupt_finishes_what_is_under_way_and_records_it(
    tmp_path: Path, report_figure: Callable[[str], None]
) -> None:
    world = World(tmp_path, seed=LATENCY, per_provider=20)
    try:
        done = _interrupted_apply(world, signal.SIGTERM)  # what CI sends a cancelled job
        assert done.returncode == 1, done.stderr
        assert "Interrupted: no new action begins; finishing the ones under way" in done.stderr
        left = re.search(r"Error: interrupted: (\d+) action\(s\) not begun", done.stderr)
        assert left is not None, done.stderr
        assert "Traceback" not in done.stderr
        # What was begun finished and is in the lockfile; nothing is left for a replay.
        assert not world.journal.exists()
        runs = json.loads((world.repo / "reconciler.lock").read_text())["runs"]
        assert all(record["run_id"] for record in runs.values())
        assert len(runs) + int(left[1]) == len(world.specs)
        assert len(runs) > 0
        world.converge()
        world.assert_exactly_once()
    finally:
        world.close()
    report_figure(
        f"interrupt: SIGTERM after the first confirmed start of {len(world.specs)}: "
        f"{len(runs)} finished and recorded, {left[1]} not begun, 0 duplicate starts"
    )


@pytest.mark.timeout(300)
def test_a_second_interrupt_stops_at_once_and_the_next_apply_adopts(tmp_path: Path) -> None:
    world = World(tmp_path, seed=SLOW, per_provider=20)
    try:
        done = _interrupted_apply(world, signal.SIGINT, signal.SIGINT)
        assert done.returncode == 1, done.stderr
        assert done.stderr.endswith(
            "Error: interrupted twice: stopped at once; the journal keeps the starts that were "
            "under way, and the next command adopts them\n"
        )
        assert world.journal.exists()
        world.converge()
        world.assert_exactly_once()
    finally:
        world.close()
