"""Exactly once, whatever happens: crashes, faults, concurrent appliers.

Each spec has its own job/pipeline at the provider, so the sandbox's own tables tell how many
runs were started per spec; every revision of a spec is owed exactly one run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.state.lockfile import read_lockfile
from tests.resilience.world import World

TRIALS = 30  # the long campaign is `make soak` (1,000); CI keeps to its time budget

FAULTS = """\
faults:
{providers}
"""
FAULT = (
    "  {name}: {{server_errors: 0.2, rate_limited: 0.1, retry_after: 1, "
    "drops: 0.025, drops_after: 0.025}}"
)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    created = World(tmp_path)
    yield created
    created.close()


# Latency makes an apply's execution span a few hundred milliseconds, so kills land in it.
SLOW = "faults:\n" + "".join(
    f"  {name}: {{latency: 0.03, jitter: 0.06}}\n"
    for name in ("xplenty", "runner", "vonage", "matatika")
)


def _kill_at_random_moment(world: World, rng: random.Random, trial: int) -> None:
    """Even trials: a uniformly random moment of the whole command. Odd trials: a random
    moment shortly after the first intent is journaled, inside the window between an intent
    and its record (a start call takes 30-90 ms under the SLOW seed)."""
    apply = world.start(
        "apply", "--auto-approve", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    if trial % 2:
        deadline = time.monotonic() + 10
        while apply.poll() is None and time.monotonic() < deadline:
            if world.journal.exists() and b'"op":"intent"' in world.journal.read_bytes():
                break
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.1))
    else:
        time.sleep(rng.uniform(0.2, 2.0))
    apply.send_signal(signal.SIGKILL)
    apply.wait(10)


@pytest.mark.timeout(900)
def test_sigkill_at_random_moments_never_starts_a_run_twice(
    tmp_path: Path, report_figure: Callable[[str], None]
) -> None:
    world = World(tmp_path, seed=SLOW)
    rng = random.Random(20261122)
    journals_left = unconfirmed = 0
    try:
        world.converge()
        world.assert_exactly_once()
        for trial in range(TRIALS):
            for name in rng.sample(sorted(world.specs), 6):
                world.bump(name)
            _kill_at_random_moment(world, rng, trial)
            # Whatever the moment, the lockfile on disk is complete and valid.
            lockfile = world.repo / "reconciler.lock"
            if lockfile.exists():
                read_lockfile(lockfile, "reconciler.lock")
            if world.journal.exists():
                journals_left += 1
                text = world.journal.read_text()
                unconfirmed += text.count('"op":"intent"') - text.count('"op":"started"')
            world.converge()
            world.assert_exactly_once()
    finally:
        world.close()
    report_figure(
        f"crash harness: {TRIALS} SIGKILL trials, {journals_left} left a journal, "
        f"{unconfirmed} starts with no recorded answer, 0 duplicate starts"
    )
    # The harness must bite: kills inside applies, with starts whose answer was lost.
    assert journals_left >= TRIALS // 4, journals_left
    assert unconfirmed >= TRIALS // 5, unconfirmed


# CI's share; `make soak-flows` runs the long campaigns of both harnesses below.
SCHEDULED_TRIALS = int(os.environ.get("SCHEDULED_TRIALS", "10"))
EVERY_FIVE = (
    '  schedule: {cron: "*/5 * * * *", starting_deadline: 5m, history: 1000}\n'
    "  concurrency: allow\n"  # Vonage runs last 2h: occurrences overlap
)


CHAIN_TRIALS = int(os.environ.get("CHAIN_TRIALS", "6"))
FAST_RUNS = SLOW + (
    "xplenty: {runs: {default: {idle: 0, pending: 0, running: 2}}}\n"
    "runner: {executions: {initializing: 0, running: 2}, queued: 0}\n"
    "matatika: {queued: 0, running: 2}\n"
)


def _settle(world: World, rounds: int = 60) -> None:
    """Apply, letting time pass, until every chain has run to its end."""
    for _ in range(rounds):
        done = world.run("apply", "--auto-approve", "--lock-timeout", "30")
        assert "Traceback" not in done.stdout + done.stderr
        quiet = done.returncode == 0 and "No changes." in done.stdout
        if quiet and "= wait" not in done.stdout and "in-progress" not in done.stdout:
            return
        world.advance(1)
    raise AssertionError("the chains did not settle")


@pytest.mark.timeout(100 * CHAIN_TRIALS)
def test_sigkill_mid_chain_runs_each_downstream_once_per_upstream_success(
    tmp_path: Path, report_figure: Callable[[str], None]
) -> None:
    """Two chains across the four providers (xplenty -> runner -> vonage -> matatika); each
    trial reruns one chain's head and kills an apply at a random moment: every link runs
    exactly once more, after the one before it succeeded."""
    world = World(tmp_path, seed=FAST_RUNS, per_provider=2)
    world.campaign_duration = "3s"
    chains = [
        [f"{instance}-{i}" for instance in ("etl", "ctl", "campaigns", "elt")] for i in (0, 1)
    ]
    rng = random.Random(20261207)
    owed = Counter(dict.fromkeys(world.specs, 1))
    journals_left = 0
    try:
        for chain in chains:
            for name in chain:
                world.write_spec(name)  # the short campaigns
            world.chain(chain)
        _settle(world)
        assert world.runs_per_spec() == owed
        for trial in range(CHAIN_TRIALS):
            chain = chains[trial % 2]
            world.bump(chain[0])
            owed.update(chain)  # one more run each: the head's, then each link's after it
            _kill_at_random_moment(world, rng, trial)
            journals_left += world.journal.exists()
            _settle(world)
            assert world.keys_started_twice() == []
            assert world.runs_per_spec() == owed
    finally:
        world.close()
    report_figure(
        f"chain crash harness: {CHAIN_TRIALS} chain reruns across 4 providers, one SIGKILL "
        f"each, {journals_left} left a journal, 0 duplicate or missing downstream runs"
    )
    assert journals_left >= 1, journals_left


def _past_the_next_occurrence(world: World) -> None:
    """The provider clock a minute past the next 5-minute occurrence: four left before its
    deadline, however long what came before took."""
    now = httpx.post(f"{world.url}/_sandbox/clock", json={"advance": 0}).json()["now"]
    world.advance(300 - now % 300 + 60)


def _occurrences_started(world: World, names: Iterable[str] = ()) -> dict[str, set[str]]:
    """Per spec (``names``, or every one), the occurrences the lockfile records a run for:
    earlier ones and the latest."""
    lock = json.loads((world.repo / "reconciler.lock").read_text())
    started: dict[str, set[str]] = {}
    for name in names or world.specs:
        history = lock["schedules"][name]["history"]
        times = {e["at"] for e in history if e["run_id"]}
        record = lock["runs"].get(name)
        if record is not None:
            times.add(record["occurrence"])
        started[name] = times
    return started


@pytest.mark.timeout(60 * SCHEDULED_TRIALS)
def test_sigkill_during_scheduled_applies_starts_each_occurrence_once(
    tmp_path: Path, report_figure: Callable[[str], None]
) -> None:
    """Every spec on a 5-minute schedule; each trial moves the provider clock to the next
    occurrence and kills an apply at a random moment; the next applies, within the
    deadline, start what it left: every occurrence once, on every provider."""
    world = World(tmp_path, seed=SLOW, per_provider=3)
    rng = random.Random(20261206)
    journals_left = 0
    try:
        world.schedule_all(EVERY_FIVE)
        _past_the_next_occurrence(world)
        world.converge()  # the schedules are first recorded: nothing is due yet
        for trial in range(SCHEDULED_TRIALS):
            _past_the_next_occurrence(world)
            _kill_at_random_moment(world, rng, trial)
            journals_left += world.journal.exists()
            world.converge()
            assert world.keys_started_twice() == []
            # One run per occurrence, each recorded once, at the provider as in the lockfile.
            started = _occurrences_started(world)
            assert world.runs_per_spec() == Counter({n: len(t) for n, t in started.items()})
            assert all(len(times) == trial + 1 for times in started.values()), started
        lock = json.loads((world.repo / "reconciler.lock").read_text())
    finally:
        world.close()
    missed = {n: e for n, s in lock["schedules"].items() for e in s["history"] if e["missed"]}
    assert missed == {}, (missed, lock["runs"])
    report_figure(
        f"scheduled crash harness: {SCHEDULED_TRIALS} occurrences x {len(world.specs)} specs "
        f"on 4 providers, one SIGKILL each, {journals_left} left a journal, 0 duplicate or "
        "missed occurrences"
    )
    assert journals_left >= SCHEDULED_TRIALS // 4, journals_left


@pytest.mark.timeout(900)
def test_faults_converge_without_duplicate_starts(
    tmp_path: Path, report_figure: Callable[[str], None]
) -> None:
    providers = "\n".join(FAULT.format(name=n) for n in ("xplenty", "runner", "vonage", "matatika"))
    world = World(tmp_path, seed=FAULTS.format(providers=providers))
    try:
        outputs = world.converge(rounds=30)
        world.assert_exactly_once()
        for name in sorted(world.specs)[::3]:
            world.bump(name)
        outputs += world.converge(rounds=30)
        world.assert_exactly_once()
        text = "\n".join(outputs)
        assert "Traceback" not in text
        injected = httpx.get(f"{world.url}/_sandbox/faults").json()
    finally:
        world.close()
    report_figure(
        f"fault run: {len(outputs)} applies converged with 0 duplicate starts; "
        f"faults injected: {json.dumps(injected)}"
    )
    # The run must bite: faults of every kind were met (drops are rarer: counted together).
    total: Counter[str] = Counter()
    for counts in injected.values():
        total.update(counts)
    assert total["server_errors"] > 0
    assert total["rate_limited"] > 0
    assert total["drops"] + total["drops_after"] > 0


def _apply_together(world: World, *extra: str) -> list[subprocess.CompletedProcess[str]]:
    processes = [world.start("apply", "--auto-approve", *extra) for _ in range(4)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return results


@pytest.mark.timeout(300)
def test_four_concurrent_applies_start_each_key_once(
    world: World, report_figure: Callable[[str], None]
) -> None:
    results = _apply_together(world, "--lock-timeout", "60")
    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stderr for r in results]
    world.converge()
    world.assert_exactly_once()

    for name in sorted(world.specs)[::2]:
        world.bump(name)
    results = _apply_together(world)  # no waiting: the others fail with the lock message
    assert sorted(r.returncode for r in results)[0] == 0
    for refused in (r for r in results if r.returncode != 0):
        assert refused.stderr.startswith("Error: the state is locked by pid "), refused.stderr
        assert "try again when it finishes (or pass --lock-timeout to wait)" in refused.stderr
    world.converge()
    world.assert_exactly_once()
    lock = json.loads((world.repo / "reconciler.lock").read_text())
    assert len(lock["runs"]) == len(world.specs)
    locked_out = sum(r.returncode != 0 for r in results)
    report_figure(
        f"concurrent applies: 2 rounds of 4 on {len(world.specs)} specs "
        f"({sum(world.runs_per_spec().values())} runs), 0 duplicate starts; "
        f"without --lock-timeout {locked_out} of 4 refused with the lock message"
    )


@pytest.mark.timeout(300)
def test_four_concurrent_applies_start_each_occurrence_and_chain_link_once(
    tmp_path: Path,
) -> None:
    """As the race above, for what schedules and chains add: rounds of four applies at once
    (each waiting for the lock, then planning afresh), time passing between, until all is
    settled; then the next occurrence and a rerun of the chain's head: every occurrence and
    every link across the four providers started once."""
    world = World(tmp_path, seed=FAST_RUNS, per_provider=2)
    world.campaign_duration = "3s"
    try:
        chain = [f"{instance}-0" for instance in ("etl", "ctl", "campaigns", "elt")]
        for name in chain:
            world.write_spec(name)
        world.chain(chain)
        scheduled = [f"{instance}-1" for instance in ("etl", "ctl", "campaigns", "elt")]
        world.schedule_some(scheduled, EVERY_FIVE)
        _past_the_next_occurrence(world)
        for phase in range(3):  # 0: the schedules are first recorded, nothing is due yet
            _race_until_settled(world)
            assert world.keys_started_twice() == []
            started = _occurrences_started(world, scheduled)
            assert all(len(times) == phase for times in started.values()), started
            assert world.runs_per_spec() == Counter(
                {**dict.fromkeys(chain, phase + 1), **dict.fromkeys(scheduled, phase)}
            )
            world.bump(chain[0])  # the chain runs again, link by link
            _past_the_next_occurrence(world)
    finally:
        world.close()


def _race_until_settled(world: World, rounds: int = 20) -> None:
    for _ in range(rounds):
        results = _apply_together(world, "--lock-timeout", "60")
        assert [r.returncode for r in results] == [0] * 4, [r.stderr for r in results]
        last = results[-1].stdout
        quiet = all("No changes." in r.stdout for r in results)
        if quiet and "in-progress" not in last and "= wait" not in last:
            return
        world.advance(1)
    raise AssertionError("four racing applies did not settle")


LOST_ANSWERS = "faults:\n" + "".join(
    f"  {name}: {{drops_after: 0.3}}\n" for name in ("xplenty", "runner", "vonage", "matatika")
)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("offset", [-600, 600], ids=["provider-behind", "provider-ahead"])
def test_lost_start_answers_with_a_provider_clock_off_ours_start_once(
    tmp_path: Path, offset: float, report_figure: Callable[[str], None]
) -> None:
    """The lookup after a lost start answer is bounded by the provider's clock, not ours: a
    provider 10 minutes behind must not list its new run as too old to be ours."""
    world = World(tmp_path, seed=LOST_ANSWERS)
    try:
        world.advance(offset)
        world.converge(rounds=20)
        lost = httpx.get(f"{world.url}/_sandbox/faults").json()
        world.assert_exactly_once()
    finally:
        world.close()
    dropped = sum(counts.get("drops_after", 0) for counts in lost.values())
    report_figure(
        f"provider clock {offset:+.0f} s off ours: {dropped} answers lost, "
        f"{len(world.specs)} specs, 0 duplicate starts"
    )
    assert dropped > 0
