"""`watch` replicas on one PostgreSQL state, soaked under faults (issue 17's campaign): three
replicas, 60 specs over four providers and two that fail (their run and its one retry);
each round changes six specs, then kills a replica (and starts a new one), pauses one past
its lease, terminates every database connection, adds one, or stops one with SIGTERM (and
starts a new one; how long until every instance was owned again: the graceful handover).
After each round: every spec converged, no run started twice (at the sandbox's database).
Throughout: how long any instance was unowned (its share, by the live rows of `replicas`, on a
replica that is paused or dead, or no replica at all: sampled every 50 ms), and the longest time any
instance went without a replica's cycle covering it. At the end: each notification was
received once (a real HTTP receiver), the failing specs' four among them.

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
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg

from reconciler.state.pgreplicas import assignment
from tests.cli.test_watch import start_watch, stop_watch
from tests.cli.test_watch_notify import Receiver
from tests.pgserver import benchmark_server
from tests.resilience.pgchaos import LEASE, PgWorld
from tests.resilience.test_exactly_once import SLOW

INTERVAL = 0.5
FAULTS = ("kill", "pause", "terminate", "join", "leave")
INSTANCES = ("etl", "ctl", "campaigns", "elt")
# Two Xplenty packages whose runs fail after a second: each failing spec's run and its retry.
FAILING = {"etl-fail-0": 200, "etl-fail-1": 201}
SEED = (
    SLOW
    + "xplenty:\n  runs:\n    packages:\n"
    + "".join(
        f"      {n}: {{idle: 0, pending: 0, running: 1, outcome: failed}}\n"
        for n in FAILING.values()
    )
)


class Replicas:
    def __init__(self, world: PgWorld) -> None:
        self.world = world
        self.running: list[tuple[subprocess.Popen[str], queue.Queue[str]]] = []
        self.covered: dict[str, float] = {}  # instance -> when a cycle last covered it
        self.longest_gap = 0.0

    def start(self) -> None:
        args = ("watch", "--interval", str(INTERVAL), "--notify", "webhook=env:ALERTS_URL")
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


class Ownership:
    """Samples the `replicas` table: an instance is unowned while the replica its share falls
    to (as every replica computes it) is paused or dead, or no replica is live."""

    def __init__(self, world: PgWorld) -> None:
        self.world = world
        self.stopped: set[int] = set()  # pids paused or killed
        self.since: dict[str, float] = {}  # instance -> unowned since
        self.longest = 0.0
        self.samples = 0
        self.handovers: list[float] = []  # SIGTERM until every instance is owned again
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                rows = self.world.sql(
                    "SELECT replica_id, pid FROM replicas WHERE expires_at > now()"
                )
            except psycopg.errors.UndefinedTable:
                continue  # the first replica has not made its tables yet
            pids = {str(r[0]): int(str(r[1])) for r in rows}
            if not pids and not self.samples:
                continue  # the first replicas are starting
            owners = assignment(INSTANCES, sorted(pids)) if pids else {}
            now = time.monotonic()
            self.samples += 1
            for instance in INSTANCES:
                owner = owners.get(instance)
                if owner is None or pids[owner] in self.stopped:
                    began = self.since.setdefault(instance, now)
                    self.longest = max(self.longest, now - began)
                else:
                    self.since.pop(instance, None)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def converged(world: PgWorld) -> bool:
    expected = Counter({name: 1 + world.reruns[name] for name in world.specs})
    expected.update({name: 1 for name in FAILING})  # a run and its one retry each
    return world.runs_per_spec() == expected


def fault(
    kind: str, replicas: Replicas, world: PgWorld, rng: random.Random, ownership: Ownership
) -> None:
    index = rng.randrange(len(replicas.running))
    process, _ = replicas.running[index]
    if kind == "kill":
        ownership.stopped.add(process.pid)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=10)
        del replicas.running[index]
        replicas.start()
    elif kind == "pause":
        ownership.stopped.add(process.pid)
        process.send_signal(signal.SIGSTOP)
        replicas.wait(LEASE + 1)  # past its lease: the others take its instances
        process.send_signal(signal.SIGCONT)
        ownership.stopped.discard(process.pid)
    elif kind == "terminate":
        world.terminate_backends()
    elif kind == "leave":  # SIGTERM: it hands its instances over as it goes
        began = time.monotonic()
        ownership.stopped.add(process.pid)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
        del replicas.running[index]
        while ownership.since and time.monotonic() - began < 30:
            time.sleep(0.01)
        ownership.handovers.append(time.monotonic() - began)
        replicas.start()
    else:
        replicas.start()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with benchmark_server() as server, tempfile.TemporaryDirectory() as tmp:
        world = PgWorld(Path(tmp), server.new_database("soak"), seed=SEED)
        for instance in INSTANCES:
            for i in range(6, 15):  # 15 specs per provider, 60 in all
                world.specs[f"{instance}-{i}"] = (instance, 1000 + i)
                world.write_spec(f"{instance}-{i}")
        changing = sorted(world.specs)  # the failing ones are not changed
        for name, package in FAILING.items():
            world.specs[name] = ("etl", package)
            world.write_spec(name)
            spec = world.repo / "specs" / f"{name}.yaml"
            spec.write_text(spec.read_text() + "  retry: {limit: 1}\n")
        receiver = Receiver()
        world.env["ALERTS_URL"] = receiver.url
        replicas = Replicas(world)
        ownership = Ownership(world)
        began = time.monotonic()
        faults: Counter[str] = Counter()
        slowest = 0.0
        try:
            for _ in range(3):
                replicas.start()
            for round_ in range(args.rounds + 1):
                if round_:
                    for name in rng.sample(changing, 6):
                        world.bump(name)
                    kind = FAULTS[(round_ - 1) % len(FAULTS)]
                    fault(kind, replicas, world, rng, ownership)
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
            replicas.wait(2 * INTERVAL)  # the last failures' notifications
        finally:
            ownership.close()
            replicas.stop_all()
            world.close()
            receiver.server.shutdown()
    keys = Counter(str(body["key"]) for body in receiver.bodies)
    twice = sorted(k for k, n in keys.items() if n > 1)
    if twice:
        raise SystemExit(f"notifications received more than once: {twice}")
    events = Counter(str(body["event"]) for body in receiver.bodies)
    failing = {(b["event"], b["spec"]) for b in receiver.bodies if b["spec"] in FAILING}
    wanted = {(e, n) for e in ("run_failed", "retries_exhausted") for n in FAILING}
    if failing != wanted:
        raise SystemExit(f"the failing specs' notifications: {sorted(failing)}")
    print(
        f"{len(world.specs)} specs on 4 providers, {args.rounds} rounds with faults "
        f"{dict(faults)}, {len(replicas.running)} replicas at the end: every round converged "
        f"(slowest {slowest:.1f}s), 0 duplicate starts; longest an instance was unowned: "
        f"{ownership.longest:.2f}s ({ownership.samples} samples); longest an instance went "
        f"without a replica's cycle: {replicas.longest_gap:.1f}s (lease {LEASE}s, interval "
        f"{INTERVAL}s); SIGTERM to every instance owned again: longest "
        f"{max(ownership.handovers, default=0.0):.2f}s of {len(ownership.handovers)}; "
        f"notifications {dict(events)}, each received once; "
        f"in {time.monotonic() - began:.0f}s"
    )


if __name__ == "__main__":
    main()
