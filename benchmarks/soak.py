"""Soak campaign: SIGKILL real applies at random moments, for a long time, with faults on.

    .venv/bin/python -m benchmarks.soak [--trials 1000] [--batch 10] [--seed 1]

Outside CI (``make soak``). Each trial changes the specs at random (rerun bump, job edit,
completed <-> stopped, delete with prune, add back), starts an apply and SIGKILLs it at a random
moment; the next trial's apply is then often a recovery run, and is killed too. After each batch
of trials a clean apply converges and the sandbox's own database is checked:

- duplicates: a run key started twice, or more runs for a spec than its changes could owe;
- not converged: a spec owed a run that was never started, or no clean apply found nothing to do.

A spec's owed runs are bounded: a bump, job edit or add owes exactly one more; going back from
``stopped`` owes one more only when the stop found its run active (timing decides), so it raises
the upper bound alone. Prints one JSON line of figures at the end.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.resilience.world import World

FAULTS = "faults:\n" + "".join(
    f"  {name}: {{latency: 0.03, jitter: 0.06, server_errors: 0.05, rate_limited: 0.02, "
    "retry_after: 0, drops: 0.01, drops_after: 0.03, slow_stop: 0.2}\n"
    for name in ("xplenty", "runner", "vonage", "matatika")
)


@dataclass
class Owed:
    """Bounds on the runs each spec should have at the provider by the next check.

    Each new revision (bump, job edit, add back) and each return from ``stopped`` may owe one
    more run: a revision replaced before any apply started it owes none, and a stop that found
    its run ended owes none. But a spec present and not stopped at the check, whose revision
    changed, is owed at least one.
    """

    at_check: Counter[str] = field(default_factory=Counter)  # runs at the last check
    may_owe: Counter[str] = field(default_factory=Counter)
    revised: set[str] = field(default_factory=set)

    def revision(self, name: str) -> None:
        self.may_owe[name] += 1
        self.revised.add(name)

    def bounds(self, name: str, wanted: bool) -> tuple[int, int]:
        low = self.at_check[name] + (name in self.revised and wanted)
        return low, self.at_check[name] + self.may_owe[name]

    def checked(self, runs: Counter[str]) -> None:
        self.at_check = Counter(runs)
        self.may_owe.clear()
        self.revised.clear()


@dataclass
class Figures:
    trials: int = 0
    recovery_kills: int = 0  # kills of an apply that began by replaying a journal
    kills_by_phase: Counter[str] = field(default_factory=Counter)
    unconfirmed_starts: int = 0  # intents with no recorded answer left by a kill
    unconfirmed_stops: int = 0
    changes: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    duplicates: int = 0
    not_converged: int = 0
    applies_to_converge: int = 0


class Soak:
    def __init__(self, root: Path, rng: random.Random) -> None:
        self.world = World(root, seed=FAULTS, per_provider=4)
        config = self.world.repo / "reconciler.yaml"
        config.write_text(config.read_text() + "prune: true\n")
        self.rng = rng
        self.deleted: set[str] = set()
        self.owed = Owed()
        self.figures = Figures()

    def change_specs(self) -> None:
        for _ in range(self.rng.randint(1, 3)):
            kind = self.rng.choice(["bump", "bump", "edit", "stop", "unstop", "delete", "add"])
            if self._change(kind):
                self.figures.changes[kind] += 1

    def _change(self, kind: str) -> bool:
        world = self.world
        present = sorted(set(world.specs) - self.deleted)
        completed = [n for n in present if world.states.get(n, "completed") == "completed"]
        stopped = [n for n in present if world.states.get(n) == "stopped"]
        if kind in ("bump", "edit", "stop", "delete"):
            pool = [n for n in completed if kind != "edit" or n.startswith("campaigns")]
        else:
            pool = stopped if kind == "unstop" else sorted(self.deleted)
        if not pool:
            return False
        name = self.rng.choice(pool)
        if kind == "bump":
            world.bump(name)
            self.owed.revision(name)
        elif kind == "edit":
            world.edits[name] += 1
            world.write_spec(name)
            self.owed.revision(name)
        elif kind == "stop":
            world.set_state(name, "stopped")
        elif kind == "unstop":
            world.set_state(name, "completed")
            self.owed.may_owe[name] += 1
        elif kind == "delete":
            (world.repo / "specs" / f"{name}.yaml").unlink()
            self.deleted.add(name)
        else:  # add back, as a new revision
            self.deleted.discard(name)
            world.bump(name)
            self.owed.revision(name)
        return True

    def trial(self, number: int) -> None:
        self.change_specs()
        before = self._journal()
        if before:
            self.figures.recovery_kills += 1
        apply = self.world.start(
            "apply", "--auto-approve", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if number % 2:  # shortly after the first intent: inside an intent-to-record window
            deadline = time.monotonic() + 10
            while apply.poll() is None and time.monotonic() < deadline:
                now = self._journal()
                if now != before and b'intent"' in now:  # a start's or a stop's
                    break
                time.sleep(0.002)
            time.sleep(self.rng.uniform(0, 0.1))
        else:  # any moment of the command
            time.sleep(self.rng.uniform(0.1, 1.5))
        finished = apply.poll() is not None
        apply.send_signal(signal.SIGKILL)
        apply.wait(10)
        self.figures.trials += 1
        self.figures.kills_by_phase[self._phase(before, finished)] += 1

    def _journal(self) -> bytes:
        try:
            return self.world.journal.read_bytes()
        except FileNotFoundError:
            return b""

    def _phase(self, before: bytes, finished: bool) -> str:
        if finished:
            return "after the apply finished"
        after = self._journal()
        if not self.world.journal.exists():
            return "before the journal opened, or after the lockfile was written"
        if before and after == before:
            return "before the left journal was replayed"
        text = after.decode("utf-8", "replace")
        starts = text.count('"op":"intent"') - text.count('"op":"started"')
        starts -= text.count('"op":"start_failed"')
        stops = text.count('"op":"stop_intent"') - text.count('"op":"stop"')
        self.figures.unconfirmed_starts += max(starts, 0)
        self.figures.unconfirmed_stops += max(stops, 0)
        if starts > 0 or stops > 0:
            return "between an intent and its record"
        if not text:
            return "journal open, no intent yet"
        return "after the records, before the lockfile was written"

    def check(self) -> None:
        """A clean apply converges; then count runs at the sandbox's database."""
        self.figures.batches += 1
        try:
            self.figures.applies_to_converge += len(self.world.converge(rounds=15))
        except AssertionError:
            self.figures.not_converged += 1
            print("did not converge", file=sys.stderr)
        runs = self.world.runs_per_spec()
        self.figures.duplicates += len(self.world.keys_started_twice())
        missing = []
        for name in self.world.specs:
            wanted = name not in self.deleted and self.world.states.get(name) != "stopped"
            low, high = self.owed.bounds(name, wanted)
            if runs[name] > high:
                self.figures.duplicates += runs[name] - high
                print(f"{name}: {runs[name]} runs, at most {high} owed", file=sys.stderr)
            if runs[name] < low:
                self.figures.not_converged += 1
                missing.append(name)
        if missing:
            plan = self.world.run("plan").stdout.splitlines()
            for name in missing:
                said = "; ".join(line.strip() for line in plan if name in line)
                print(f"{name}: {runs[name]} runs, a run owed; plan: {said}", file=sys.stderr)
        self.owed.checked(runs)


def _exit(signum: int, frame: object) -> None:
    raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _exit)  # so that the sandbox process is closed too
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as root:
        soak = Soak(Path(root), random.Random(args.seed))
        try:
            soak.world.converge()
            soak.owed.checked(soak.world.runs_per_spec())
            for number in range(args.trials):
                soak.trial(number)
                if (number + 1) % args.batch == 0 or number + 1 == args.trials:
                    soak.check()
                    print(json.dumps(soak.figures.__dict__), file=sys.stderr, flush=True)
        finally:
            soak.world.close()
    figures = soak.figures.__dict__ | {"seconds": round(time.monotonic() - started)}
    print(json.dumps(figures, default=dict, sort_keys=True))


if __name__ == "__main__":
    main()
