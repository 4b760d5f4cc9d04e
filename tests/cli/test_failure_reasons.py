"""Issue 21 acceptance: why a run failed, as each provider says, reaches `show` (live and
offline), the JSON plan, the markdown comment and `watch`; a running run shows its progress."""

from __future__ import annotations

import json
import os
import re
import signal
import threading

import pytest

from tests.cli.test_four_providers import CONFIG
from tests.conftest import Repo

# Every run fails after 20 s of running; Matatika on its 2021 API, which has task details.
SEED = """\
xplenty: {runs: {default: {running: 20, outcome: failed}}}
runner: {executions: {running: 20, outcome: FAILURE}}
vonage: {jobs: {job-1: {outcome: failed}}}
matatika: {running: 20, outcome: ERROR, status_set: seed}
"""

SPECS = {
    "xplenty": ("etl", "{cluster_id: 1, package_id: 2}"),
    "runner": ("ctl", "{job_id: job-1, hosts: [{id: web-01}, {id: web-02}]}"),
    "vonage": ("campaigns", "{job_id: job-1, duration: 2m}"),
    "matatika": ("elt", "{pipeline_id: pipeline-1}"),
}

FAILURES = {
    "xplenty": "job failed: Component 'destination_1' (Database destination) failed: could not "
    "connect to server: Connection refused",
    "runner": "playbook failed: failed hosts: web-01",
    "vonage": "1 of 2 deliveries failed: recipients 2, delivered 1, failed 1, responses 1",
    "matatika": "task meltano elt failed (exit code 1): Extractor failed: tap-sandbox exited "
    "with code 1 (401 Unauthorized from the source)",
}

# What a running run shows after some 10 s of sandbox time (which also moves with the clock).
PROGRESS = {
    "xplenty": r"\d\d?% done, \d\d?s elapsed",  # the API's progress and runtime_in_seconds
    "runner": r"\d\d?s elapsed",  # from the execution's start
    "vonage": r"\d\d?s elapsed; recipients 0, delivered 0, failed 0, responses 0",
    "matatika": r"\d\d?s elapsed",  # from the job's startTime
}


@pytest.fixture
def failing(repo: Repo) -> Repo:
    config = CONFIG.replace(
        "      token: env:MATATIKA_TOKEN\n",
        "      token: env:MATATIKA_TOKEN\n    options: {api: seed}\n",
    )
    (repo.root / "reconciler.yaml").write_text(config)
    (repo.root / "seed.yaml").write_text(SEED)
    for name, (instance, job) in SPECS.items():
        repo.spec(
            f"{name}.yaml",
            f"apiVersion: reconciler/v1\nkind: JobRun\nmetadata: {{name: {name}-run}}\n"
            f"spec:\n  provider: {instance}\n  job: {job}\n"
            + ("  retry: {limit: 1}\n" if name == "xplenty" else ""),
        )
    return repo


def run(repo: Repo, *args: str) -> tuple[int, str]:
    code, out, _ = repo.run("--sandbox", "--sandbox-seed", str(repo.root / "seed.yaml"), *args)
    return code, out


def details(out: str) -> dict[str, str]:
    """`show`'s DETAILS column, per spec."""
    lines = out.splitlines()
    at = lines[0].index("DETAILS")
    return {line.split()[0].removesuffix("-run"): line[at:] for line in lines[1:]}


def test_a_running_run_shows_its_progress(failing: Repo) -> None:
    assert run(failing, "apply", "--auto-approve")[0] == 0
    failing.advance(10)
    code, out = run(failing, "show")
    shown = details(out)
    assert code == 0
    for name, pattern in PROGRESS.items():
        assert re.fullmatch(pattern, shown[name]), (name, shown[name])


def test_a_failed_run_says_why_in_show_plan_markdown_json_and_watch(failing: Repo) -> None:
    assert run(failing, "apply", "--auto-approve")[0] == 0
    failing.advance(200)

    code, out = run(failing, "plan")  # the text shows the retry, and why each one failed
    assert f"xplenty-run   etl: run 1 failed ({FAILURES['xplenty']}); retry 1 of 1\n" in out
    runs = json.loads((failing.root / "reconciler.lock").read_text())["runs"]
    exhausted = "retries exhausted (0 of 0); bump rerun to try again"
    for name, failure in FAILURES.items():
        if name != "xplenty":
            spec = f"{name}-run"
            assert (
                f"    = failed      {spec:<12}  {SPECS[name][0]}: run {runs[spec]['run_id']} "
                f"failed ({failure}); {exhausted}\n"
            ) in out, name
    assert "unchanged" not in out  # none of them only counted
    code, out = run(failing, "plan", "--format", "json")
    reasons = {a["name"].removesuffix("-run"): a["reason"] for a in json.loads(out)["actions"]}
    assert reasons["xplenty"] == f"run 1 failed ({FAILURES['xplenty']}); retry 1 of 1"
    for name, failure in FAILURES.items():
        assert f" failed ({failure}); retr" in reasons[name], name
    code, out = run(failing, "plan", "--format", "markdown")
    assert "Component 'destination\\_1' (Database destination) failed" in out
    assert "failed hosts: web-01" in out
    assert "1 of 2 deliveries failed" in out
    assert "Extractor failed: tap-sandbox exited with code 1 (401 Unauthorized" in out

    code, out = run(failing, "show")  # Vonage's summary is its failure: said once
    assert (code, details(out)) == (0, FAILURES)

    assert run(failing, "apply", "--auto-approve")[0] == 0  # retries one, records the rest
    lock = json.loads((failing.root / "reconciler.lock").read_text())
    recorded = {n.removesuffix("-run"): r["failure"] for n, r in lock["runs"].items()}
    assert recorded == {**FAILURES, "xplenty": None}  # a new attempt, not failed (yet)
    code, out = run(failing, "show", "--offline")
    assert (code, details(out)) == (0, {**FAILURES, "xplenty": "-"})
    code, out = run(failing, "show", "runner-run", "--offline")
    assert f"\nfailure            {FAILURES['runner']}\n" in out


def test_watch_logs_why_a_run_failed(failing: Repo) -> None:
    assert run(failing, "apply", "--auto-approve")[0] == 0
    runs = json.loads((failing.root / "reconciler.lock").read_text())["runs"]
    failing.advance(200)
    # One cycle, then SIGTERM ends the loop (as a service manager would).
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        code, out = run(failing, "watch", "--interval", "30")
    finally:
        timer.cancel()
    exhausted = "retries exhausted (0 of 0); bump rerun to try again"
    assert (code, json.loads(out.splitlines()[0])["failed"]) == (
        0,
        {
            f"{name}-run": f"run {runs[f'{name}-run']['run_id']} failed ({failure}); "
            + ("retry 1 of 1" if name == "xplenty" else exhausted)
            for name, failure in FAILURES.items()
        },
    )
