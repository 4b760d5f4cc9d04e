"""`watch` replicas on one PostgreSQL state, soaked under faults (issue 17's campaign): three
replicas, 60 specs over four providers; each round changes six specs, then kills a replica
(and starts a new one), pauses one past its lease, terminates every database connection, or
adds one. After each round: every spec converged, no run started twice (at the sandbox's
database), and the longest time any instance went without a replica's cycle covering it.

    .venv/bin/python -m benchmarks.watch_soak [--rounds 12] [--seed 17]

Starts its own PostgreSQL server (``tests/pgserver.py``: the machine's binaries).
"""

from __future__ import annotations

import argparse
import json
import queue
import random
import signal
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.cli.test_watch import start_watch, stop_watch
from tests.pgserver import benchmark_server
from tests.resilience.pgchaos import LEASE, PgWorld
from tests.resilience.test_exactly_once import SLOW

INTERVAL = 0.5
FAULTS = ("kill", "pause", "terminate", "join")


class Replicas:
    def __init__(self, world: PgWorld) -> None:
        self.world = world
        self.running: list[tuple[subprocess.Popen[str], queue.Queue[str]]] = []
        self.covered: dict[str, float] = {}  # instance -> when a cycle last covered it
        self.longest_gap = 0.0

    def start(self) -> None:
        args = ("watch", "--interval", str(INTERVAL))
        self.running.append(start_watch(self.world.repo, self.world.env, *args))

    def drain(self) -> None:
        """Read every replica's cycle lines so far: which instances were covered, when."""
        now = time.monotonic()
        for _, lines in self.running:
            while True:
                try:
                    cycle = json.loads(lines.get_nowait())
                except queue.Empty:
                    break
                if cycle.get("status") != "ok":
                    continue
                for instance in cycle.get("shards", []):
                    last = self.covered.get(instance)
                    if last is not None:
                        self.longest_gap = max(self.longest_gap, now - last)
                    self.covered[instance] = now

    def wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.drain()
            time.sleep(0.05)

    def stop_all(self) -> None:
        for process, _ in self.running:
            if process.poll() is None:
                stop_watch(process)


def converged(world: PgWorld) -> bool:
    expected = Counter({name: 1 + world.reruns[name] for name in world.specs})
    return world.runs_per_spec() == expected


def fault(kind: str, replicas: Replicas, world: PgWorld, rng: random.Random) -> None:
    index = rng.randrange(len(replicas.running))
    process, _ = replicas.running[index]
    if kind == "kill":
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=10)
        del replicas.running[index]
        replicas.start()
    elif kind == "pause":
        process.send_signal(signal.SIGSTOP)
        replicas.wait(LEASE + 1)  # past its lease: the others take its instances
        process.send_signal(signal.SIGCONT)
    elif kind == "terminate":
        world.terminate_backends()
    else:
        replicas.start()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with benchmark_server() as server, tempfile.TemporaryDirectory() as tmp:
        world = PgWorld(Path(tmp), server.new_database("soak"), seed=SLOW)
        for instance in ("etl", "ctl", "campaigns", "elt"):
            for i in range(6, 15):  # 15 specs per provider, 60 in all
                world.specs[f"{instance}-{i}"] = (instance, 1000 + i)
                world.write_spec(f"{instance}-{i}")
        replicas = Replicas(world)
        began = time.monotonic()
        faults: Counter[str] = Counter()
        slowest = 0.0
        try:
            for _ in range(3):
                replicas.start()
            for round_ in range(args.rounds + 1):
                if round_:
                    for spec in rng.sample(sorted(world.specs), 6):
                        world.bump(spec)
                    kind = FAULTS[(round_ - 1) % len(FAULTS)]
                    fault(kind, replicas, world, rng)
                    faults[kind] += 1
                waited = time.monotonic()
                while not converged(world):
                    replicas.wait(0.5)
                    if time.monotonic() - waited > 180:
                        raise SystemExit(f"round {round_}: did not converge in 180s")
                slowest = max(slowest, time.monotonic() - waited)
                twice = world.keys_started_twice()
                if twice:
                    raise SystemExit(f"round {round_}: keys started twice {twice}")
        finally:
            replicas.stop_all()
            world.close()
    print(
        f"{len(world.specs)} specs on 4 providers, {args.rounds} rounds with faults "
        f"{dict(faults)}, {len(replicas.running)} replicas at the end: every round converged "
        f"(slowest {slowest:.1f}s), 0 duplicate starts; longest an instance went without a "
        f"replica's cycle: {replicas.longest_gap:.1f}s (lease {LEASE}s, interval {INTERVAL}s) "
        f"in {time.monotonic() - began:.0f}s"
    )


if __name__ == "__main__":
    main()
