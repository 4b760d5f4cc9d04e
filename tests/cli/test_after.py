"""Specs that run after others, end to end on the sandbox: `apply --wait` runs a chain across
the four providers; a failed upstream blocks its downstream until a retry succeeds."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from tests.cli.test_four_providers import CONFIG as FOUR_PROVIDERS
from tests.cli.test_watch import next_cycle, read_lines
from tests.conftest import Repo

RECONCILER = (sys.executable, "-m", "reconciler")
FAST = """\
xplenty:
  runs:
    default: {idle: 0, pending: 0, running: 1}
    packages: {666: {outcome: %s}}
runner: {executions: {initializing: 0, running: 1}, queued: 0}
matatika: {queued: 0, running: 1}
"""

CHAIN = {
    "extract": ("etl", "{cluster_id: 1, package_id: 2}", []),
    "patch": ("ctl", "{job_id: job-1, hosts: [{id: web-01}]}", ["extract"]),
    "campaign": ("campaigns", "{job_id: job-1, duration: 2s}", ["patch"]),
    "report": ("elt", "{pipeline_id: pipeline-1}", ["campaign"]),
}


def jobrun(name: str, instance: str, job: str, after: list[str], extra: str = "") -> str:
    return textwrap.dedent(
        f"""\
        apiVersion: reconciler/v1
        kind: JobRun
        metadata: {{name: {name}}}
        spec:
          provider: {instance}
          job: {job}
          after: [{", ".join(after)}]
        """
    ) + textwrap.indent(extra, "  ")


def lockfile(repo: Repo) -> dict:  # type: ignore[type-arg]
    return dict(json.loads((repo.root / "reconciler.lock").read_text()))


def apply_wait(repo: Repo, *extra: str) -> tuple[int, str, str]:
    return repo.run(
        "--sandbox",
        "--sandbox-seed",
        "seed.yaml",
        "apply",
        "--auto-approve",
        "--wait=2m",
        "--wait-interval",
        "0.3",
        *extra,
    )


def test_apply_wait_runs_a_chain_across_the_four_providers(repo: Repo) -> None:
    (repo.root / "reconciler.yaml").write_text(FOUR_PROVIDERS)
    (repo.root / "seed.yaml").write_text(FAST % "completed")
    for name, (instance, job, after) in CHAIN.items():
        repo.spec(f"{name}.yaml", jobrun(name, instance, job, after))
    code, out, err = repo.run("--sandbox", "plan")
    assert code == 0
    assert "= wait        patch     ctl: after extract (no run yet)" in out
    assert "extract (start)\n    └─ patch (wait)\n       └─ campaign (wait)" in out

    code, out, err = apply_wait(repo)
    assert (code, err) == (0, ""), out + err
    assert "Waiting: " in out
    assert "Settled: 4 spec(s)" in out
    runs = lockfile(repo)["runs"]
    assert all(runs[name]["status"] == "succeeded" for name in CHAIN), runs
    for name, (_, _, after) in CHAIN.items():
        followed = {up: f"{runs[up]['key']}-{runs[up]['attempt']}" for up in after}
        assert runs[name]["followed"] == (followed or None)
    # Settled: another apply has nothing to do, and starts nothing again.
    code, out, _ = repo.run("--sandbox", "--sandbox-seed", "seed.yaml", "apply", "--auto-approve")
    assert (code, "No changes." in out) == (0, True)


def test_a_failed_upstream_blocks_its_downstream_until_a_retry_succeeds(repo: Repo) -> None:
    (repo.root / "seed.yaml").write_text(FAST % "failed")
    repo.spec("extract.yaml", jobrun("extract", "etl", "{cluster_id: 1, package_id: 666}", []))
    repo.spec("load.yaml", jobrun("load", "etl", "{cluster_id: 1, package_id: 3}", ["extract"]))
    code, out, err = apply_wait(repo)
    assert code == 1
    assert err.splitlines() == [
        "Error: failed extract: run 1 failed (job failed: Component 'destination_1' (Database "
        "destination) failed: could not connect to server: Connection refused); retries exhausted "
        "(0 of 0); bump rerun to try again",
        "Error: blocked load: after extract (run 1 failed)",
    ]
    assert "load" not in lockfile(repo)["runs"]

    (repo.root / "seed.yaml").write_text(FAST % "completed")  # the fault is mended
    repo.spec(
        "extract.yaml",
        jobrun("extract", "etl", "{cluster_id: 1, package_id: 666}", [], "retry: {limit: 1}\n"),
    )
    code, out, err = apply_wait(repo)
    assert (code, err) == (0, ""), out + err
    runs = lockfile(repo)["runs"]
    assert (runs["extract"]["attempt"], runs["extract"]["status"]) == (2, "succeeded")
    assert runs["load"]["status"] == "succeeded"
    assert repo.xplenty_jobs() == 3  # extract twice, load once


def test_apply_wait_ends_when_a_downstream_waits_only_on_time(repo: Repo) -> None:
    """Its upstream succeeded and its own occurrence is days away: settled, not waiting."""
    (repo.root / "seed.yaml").write_text(FAST % "completed")
    repo.spec("extract.yaml", jobrun("extract", "etl", "{cluster_id: 1, package_id: 2}", []))
    weekly = "schedule: {cron: '0 17 1 1 *', timezone: Europe/London}\n"
    repo.spec(
        "load.yaml", jobrun("load", "etl", "{cluster_id: 1, package_id: 3}", ["extract"], weekly)
    )
    code, out, err = apply_wait(repo)
    assert (code, err) == (0, ""), out + err
    assert "Settled: 2 spec(s)" in out
    assert lockfile(repo)["runs"]["extract"]["status"] == "succeeded"


def test_apply_wait_gives_up_at_its_timeout_naming_what_still_moves(repo: Repo) -> None:
    (repo.root / "seed.yaml").write_text(
        "xplenty: {runs: {default: {idle: 0, pending: 0, running: 600}}}\n"
    )
    repo.spec("extract.yaml", jobrun("extract", "etl", "{cluster_id: 1, package_id: 2}", []))
    repo.spec("load.yaml", jobrun("load", "etl", "{cluster_id: 1, package_id: 3}", ["extract"]))
    code, out, err = repo.run(
        "--sandbox", "--sandbox-seed", "seed.yaml", "apply", "--auto-approve", "--wait=2s",
        "--wait-interval", "0.3",
    )  # fmt: skip
    assert code == 1, out + err
    assert err.splitlines() == [
        "Error: gave up waiting after 2s: 1 running (extract), 1 waiting (load)"
    ]
    assert lockfile(repo)["runs"]["extract"]["status"] in ("pending", "running")


@pytest.mark.timeout(120)
def test_watch_runs_the_chain_as_runs_end(tmp_path: Path) -> None:
    (tmp_path / "reconciler.yaml").write_text(FOUR_PROVIDERS)
    (tmp_path / "seed.yaml").write_text(FAST % "completed")
    (tmp_path / "specs").mkdir()
    for name, (instance, job, after) in CHAIN.items():
        (tmp_path / "specs" / f"{name}.yaml").write_text(jobrun(name, instance, job, after))
    watcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler",
            "--sandbox",
            "--sandbox-seed",
            "seed.yaml",
            "watch",
            "--interval",
            "0.3",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=read_lines, args=(watcher.stdout, lines), daemon=True).start()
    started: list[str] = []
    try:
        while len(started) < len(CHAIN):
            cycle = next_cycle(lines, lambda c: True)
            assert cycle["status"] == "ok", cycle
            if cycle["actions"].get("start"):
                runs = json.loads((tmp_path / "reconciler.lock").read_text())["runs"]
                started += sorted(set(runs) - set(started))
        next_cycle(lines, lambda c: c["actions"] == {"done": 4})
    finally:
        watcher.send_signal(signal.SIGTERM)
        assert watcher.wait(20) == 0
        assert watcher.stdout is not None
        assert watcher.stderr is not None
        assert "Traceback" not in watcher.stderr.read()
        watcher.stdout.close()
        watcher.stderr.close()
    assert started == list(CHAIN)  # one link at a time, in the chain's order
