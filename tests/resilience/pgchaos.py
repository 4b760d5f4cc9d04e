"""The crash harness's world (``world.World``) with its state in PostgreSQL, and the faults an
applier of a shared database meets: SIGKILL, its connection terminated by the server, a pause
past its lease. Shared by ``test_pg_chaos.py`` and ``benchmarks/pg_chaos.py``."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import psycopg

from tests.resilience.world import World

LEASE = 2  # seconds: a paused applier loses its lease soon


class PgWorld(World):
    def __init__(self, root: Path, dsn: str, seed: str = "") -> None:
        super().__init__(root, seed=seed)
        self.dsn = dsn
        self.use_postgres(dsn, LEASE)

    def sql(self, query: str) -> list[tuple[object, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return list(conn.execute(query.encode()).fetchall())

    def journal_rows(self) -> tuple[int, int]:
        """Intents in the journal, and those with no answer recorded."""
        row = self.sql("SELECT count(*), count(*) FILTER (WHERE run_id IS NULL) FROM intents")[0]
        return int(str(row[0])), int(str(row[1]))

    def apply(self) -> subprocess.Popen[str]:
        return self.start("apply", "--auto-approve", "--lock-timeout", "30")

    def wait_for_intent(self, apply: subprocess.Popen[str], limit: float = 10) -> bool:
        """Until the apply's first intent is committed; False if it ended first."""
        deadline = time.monotonic() + limit
        while apply.poll() is None and time.monotonic() < deadline:
            if self.journal_rows()[0]:
                return True
            time.sleep(0.005)
        return False

    def terminate_backends(self) -> int:
        """``pg_terminate_backend`` of every connection reconciler holds: the applier's."""
        rows = self.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'reconciler' AND pid <> pg_backend_pid()"
        )
        return len(rows)


def kill_at_random_moment(world: PgWorld, rng: random.Random, trial: int) -> None:
    """Even trials: a uniformly random moment of the whole command. Odd trials: a random
    moment shortly after the first intent is committed (inside an intent's window)."""
    apply = world.apply()
    if trial % 2:
        world.wait_for_intent(apply)
        time.sleep(rng.uniform(0, 0.1))
    else:
        time.sleep(rng.uniform(0.2, 2.0))
    apply.send_signal(signal.SIGKILL)
    apply.communicate(timeout=10)
