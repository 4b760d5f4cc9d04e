"""Many appliers on one PostgreSQL state, through the real CLI on the sandbox: 8 on disjoint
specs (one provider instance each, `apply --target`) hold their leases at once; 8 on the same
specs take turns. Either way every run is started once, as the sandbox's database shows."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests.resilience.world import World

APPLIERS = 8
SPECS_EACH = 5
# Each call takes 0.3 s and an instance makes one at a time: an applier's own work is seconds
# of waiting on its API, which appliers of disjoint instances do side by side.
LATENCY = 0.3


def instance_config(url: str) -> str:
    return "".join(
        f"  etl{k}:\n    type: xplenty\n    base_url: {url}/xplenty\n    account: acct{k}\n"
        "    credentials:\n      api_key: env:XPLENTY_API_KEY\n    concurrency: 1\n"
        for k in range(APPLIERS)
    )


class Appliers(World):
    """The world's sandbox, with 8 Xplenty instances (accounts) and their specs instead."""

    def __init__(self, root: Path, dsn: str, latency: float = LATENCY) -> None:
        super().__init__(root, seed=f"faults:\n  xplenty: {{latency: {latency}}}\n", per_provider=0)
        self.env["RECONCILER_PG_DSN"] = self.dsn = dsn
        (self.repo / "reconciler.yaml").write_text(
            "apiVersion: reconciler/v1\nkind: Config\nproviders:\n"
            + instance_config(self.url)
            + "specs: [specs]\n"
            + "state:\n  backend: postgres\n  dsn: env:RECONCILER_PG_DSN\n"
        )
        self.revision = [0] * APPLIERS  # each instance's specs' rerun
        self.write_specs()

    def names(self, k: int) -> list[str]:
        return [f"s{k}-{i}" for i in range(SPECS_EACH)]

    def write_specs(self) -> None:
        for k in range(APPLIERS):
            for i, name in enumerate(self.names(k)):
                (self.repo / "specs" / f"{name}.yaml").write_text(
                    f"apiVersion: reconciler/v1\nkind: JobRun\nmetadata: {{name: {name}}}\n"
                    f"spec:\n  provider: etl{k}\n  job: {{cluster_id: 1, package_id: {100 + i}}}\n"
                    f"  rerun: {self.revision[k]}\n"
                )

    def runs(self) -> Counter[tuple[str, int]]:
        with sqlite3.connect(self.db) as db:
            rows = db.execute("SELECT account, package_id FROM xplenty_jobs").fetchall()
        return Counter((str(account), int(package)) for account, package in rows)

    def assert_each_started_once(self) -> None:
        owed = Counter(
            {
                (f"acct{k}", 100 + i): self.revision[k] + 1
                for k in range(APPLIERS)
                for i in range(SPECS_EACH)
            }
        )
        assert self.runs() == owed

    def apply(self, *args: str) -> subprocess.Popen[str]:
        return self.start("apply", "--auto-approve", "--lock-timeout", "120", *args)

    def targets(self, k: int) -> list[str]:
        return [arg for name in self.names(k) for arg in ("--target", name)]


class LeaseWatch:
    """The most leases held at one moment, as the database saw them."""

    def __init__(self, dsn: str) -> None:
        self.most = 0
        self._stop = threading.Event()
        self._dsn = dsn
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            while not self._stop.wait(0.02):
                row = conn.execute(
                    b"SELECT count(*) FROM leases WHERE holder_id IS NOT NULL"
                    b" AND expires_at > now()"
                ).fetchone()
                self.most = max(self.most, int(row[0]) if row else 0)

    def __enter__(self) -> LeaseWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def world(tmp_path: Path, pg_dsn: str) -> Iterator[Appliers]:
    created = Appliers(tmp_path, pg_dsn)
    yield created
    created.close()


def finish(appliers: list[subprocess.Popen[str]]) -> None:
    for applier in appliers:
        out, err = applier.communicate(timeout=180)
        assert applier.returncode == 0, out + err


def alone_then_together(world: Appliers) -> tuple[float, float, int]:
    """Seconds of one applier alone, then of all at once on disjoint instances, each doing
    the same work (replacing its instance's runs: a new revision of each spec); the most
    leases held at one moment."""
    finish([world.apply()])  # every instance's runs started, outside the measure
    world.revision[0] += 1
    world.write_specs()
    began = time.monotonic()
    finish([world.apply(*world.targets(0))])
    alone = time.monotonic() - began
    world.revision = [r + 1 for r in world.revision]
    world.write_specs()
    began = time.monotonic()
    with LeaseWatch(world.dsn) as leases:
        finish([world.apply(*world.targets(k)) for k in range(APPLIERS)])
    together = time.monotonic() - began
    world.assert_each_started_once()
    return alone, together, leases.most


@pytest.mark.timeout(300)
def test_appliers_of_disjoint_instances_proceed_at_once_and_start_each_run_once(
    world: Appliers, report_figure: Callable[[str], None]
) -> None:
    alone, together, most = alone_then_together(world)
    # Every applier held its instance's lease while the others held theirs: none waited.
    assert most == APPLIERS, most
    report_figure(
        f"PostgreSQL store: 1 applier replacing {SPECS_EACH} runs alone {alone:.1f}s; "
        f"{APPLIERS} appliers of disjoint instances at once {together:.1f}s "
        f"({together / alone:.1f}x one; 2 cores), {most} leases held at once, 0 duplicates"
    )


@pytest.mark.timeout(300)
def test_appliers_of_the_same_specs_take_turns_and_start_each_run_once(world: Appliers) -> None:
    everything = [arg for k in range(APPLIERS) for arg in world.targets(k)]
    finish([world.apply(*everything), world.apply()])
    world.assert_each_started_once()
    world.revision = [1] * APPLIERS
    world.write_specs()
    with LeaseWatch(world.dsn) as leases:
        # Half targeted (every instance's lease), half not (the whole state's): all exclude
        # each other, so one acts and the others find the runs it started.
        finish([world.apply(*everything) if k % 2 else world.apply() for k in range(APPLIERS)])
    world.assert_each_started_once()
    assert 1 <= leases.most <= APPLIERS, leases.most  # the whole state, or the 8 instances
