"""The PostgreSQL chaos campaign, past CI's share: SIGKILL of appliers at random moments, then
connections terminated mid-apply and pauses past the lease, each trial checked at the sandbox's
database for duplicate starts (``tests/resilience/test_pg_chaos.py`` keeps a few dozen).

    .venv/bin/python -m benchmarks.pg_chaos [--trials 200] [--terminations 20] [--pauses 10]

Starts its own PostgreSQL server (``tests/pgserver.py``: the machine's binaries).
"""

from __future__ import annotations

import argparse
import random
import signal
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.pgserver import benchmark_server
from tests.resilience.pgchaos import LEASE, PgWorld, kill_at_random_moment
from tests.resilience.test_exactly_once import SLOW


def bump_some(world: PgWorld, rng: random.Random) -> None:
    for name in rng.sample(sorted(world.specs), 6):
        world.bump(name)


LATE = "finished being written only after"  # an applier paused inside a request's last write


def check(world: PgWorld, what: str, reported: Counter[str] | None = None) -> None:
    """As ``assert_exactly_once``, naming the specs whose run count is off; ``reported``:
    extra runs an applier reported (a request written past its lease), allowed."""
    allowed = reported if reported is not None else Counter[str]()
    expected = Counter({name: 1 + world.reruns[name] + allowed[name] for name in world.specs})
    found = world.runs_per_spec()
    off = {n: (found[n], expected[n]) for n in expected if found[n] != expected[n]}
    twice = world.keys_started_twice()
    if off or len(twice) > allowed.total():
        raise SystemExit(f"{what}: runs (found, owed) {off}; keys started twice {twice}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--terminations", type=int, default=20)
    parser.add_argument("--pauses", type=int, default=10)
    parser.add_argument("--seed", type=int, default=20261206)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with benchmark_server() as server, tempfile.TemporaryDirectory() as tmp:
        world = PgWorld(Path(tmp), server.new_database("chaos"), seed=SLOW)
        began = time.monotonic()
        journals = unconfirmed = fenced = ended = 0
        reported = Counter[str]()  # extra runs of a late write its applier reported
        try:
            world.converge()
            for trial in range(args.trials):
                bump_some(world, rng)
                kill_at_random_moment(world, rng, trial)
                rows, open_ = world.journal_rows()
                journals += rows > 0
                unconfirmed += open_
                world.converge()
                world.assert_exactly_once()
            for _ in range(args.terminations):
                bump_some(world, rng)
                apply = world.apply()
                world.wait_for_intent(apply)
                world.terminate_backends()
                apply.communicate(timeout=60)
                world.converge()
                world.assert_exactly_once()
            for _ in range(args.pauses):
                bump_some(world, rng)
                paused = world.apply()
                world.wait_for_intent(paused)
                paused.send_signal(signal.SIGSTOP)
                time.sleep(LEASE + 1)
                world.converge()
                paused.send_signal(signal.SIGCONT)
                _, err = paused.communicate(timeout=60)
                fenced += "expired and was taken" in err or "may have expired" in err
                ended += "the server ended the connection" in err or "no connection" in err
                world.converge()
                if LATE in err:
                    expected = Counter({n: 1 + world.reruns[n] for n in world.specs})
                    reported = world.runs_per_spec() - expected
                check(world, "pause", reported)
        finally:
            world.close()
        print(
            f"{args.trials} SIGKILL trials ({journals} left a journal, {unconfirmed} starts with "
            f"no recorded answer), {args.terminations} connections terminated mid-apply, "
            f"{args.pauses} pauses past the lease ({fenced} late writes fenced, {ended} sessions "
            f"ended by the server, {reported.total()} requests written past the lease, "
            f"reported): 0 unreported duplicate starts in {time.monotonic() - began:.0f}s"
        )


if __name__ == "__main__":
    main()
