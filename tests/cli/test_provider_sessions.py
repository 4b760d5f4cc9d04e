"""Provider adapters are opened once per command (once per ``watch`` process): one Runner
login serves the refresh and the actions of an apply, and every cycle of watch. Counted at the
sandbox, which stores each token its login issues."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Repo
from tests.resilience.world import World


def _logins(world: World) -> int:
    with sqlite3.connect(world.db) as db:
        return int(db.execute("SELECT COUNT(*) FROM runner_tokens").fetchone()[0])


@pytest.mark.timeout(120)
def test_one_apply_logs_in_once_and_watch_once_for_all_its_cycles(tmp_path: Path) -> None:
    world = World(tmp_path, per_provider=2)
    try:
        done = world.run("apply", "--auto-approve")
        assert done.returncode == 0, done.stderr
        assert "start" in done.stdout
        assert _logins(world) == 1  # refresh and starts: one login (was one per phase)
        watch = world.start("watch", "--interval", "0.2", stderr=subprocess.DEVNULL)
        try:
            assert watch.stdout is not None
            cycles = [json.loads(watch.stdout.readline()) for _ in range(3)]
        finally:
            watch.terminate()
            watch.communicate(timeout=30)
    finally:
        world.close()
    assert [c["status"] for c in cycles] == ["ok", "ok", "ok"]
    assert [c["api_calls"]["ctl"] > 0 for c in cycles] == [True, True, True]  # per cycle
    assert _logins(world) == 2  # the watch process: one login for its three cycles


MATATIKA_CONFIG = """\
apiVersion: reconciler/v1
kind: Config
providers:
  elt:
    type: matatika
    base_url: https://app.matatika.com/api
    credentials:
      client_id: env:MATATIKA_CLIENT_ID
      client_secret: env:MATATIKA_CLIENT_SECRET
specs: [specs]
"""


def test_one_apply_makes_one_matatika_token_grant(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATATIKA_CLIENT_ID", "ops")
    monkeypatch.setenv("MATATIKA_CLIENT_SECRET", "s3cret")
    seed = repo.root.parent / "seed.yaml"
    seed.write_text("matatika:\n  clients: {ops: s3cret}\n")
    (repo.root / "reconciler.yaml").write_text(MATATIKA_CONFIG)
    for n in range(3):
        repo.spec(
            f"p{n}.yaml",
            "apiVersion: reconciler/v1\nkind: JobRun\n"
            f"metadata: {{name: pipe-{n}}}\n"
            f"spec: {{provider: elt, job: {{pipeline_id: pipe-{n}}}}}\n",
        )
    code, out, err = repo.run("--sandbox", "--sandbox-seed", str(seed), "apply", "--auto-approve")
    assert (code, err) == (0, ""), out
    assert "3 started" in out
    store = repo.sandbox_store()
    try:
        grants = store.query("SELECT client_id FROM matatika_grants")
    finally:
        store.close()
    assert [g["client_id"] for g in grants] == ["ops"]  # refresh, snapshots, starts: one grant
