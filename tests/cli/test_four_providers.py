"""Issue acceptance: one spec per provider, through the CLI, against the sandbox."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Repo

CONFIG = """\
apiVersion: reconciler/v1
kind: Config
providers:
  etl:
    type: xplenty
    base_url: https://api.xplenty.com
    account: acme
    credentials:
      api_key: env:XPLENTY_API_KEY
  ctl:
    type: runner
    base_url: https://api.runner.ctl.io
    account: ACME
    credentials:
      username: env:CLC_USERNAME
      password: env:CLC_PASSWORD
  campaigns:
    type: vonage
    base_url: https://api-eu.dev.v1.vonagenetworks.net/beta
    credentials:
      token: env:VONAGE_JWT
  elt:
    type: matatika
    base_url: https://app.matatika.com/api
    credentials:
      token: env:MATATIKA_TOKEN
"""

SPECS = {
    "xplenty": ("etl", "{cluster_id: 1, package_id: 2}"),
    "runner": ("ctl", "{job_id: job-1, hosts: [{id: web-01}]}"),
    "vonage": ("campaigns", "{job_id: job-1, duration: 2h}"),
    "matatika": ("elt", "{pipeline_id: pipeline-1}"),
}

TERMINAL_API_STATUS = {
    "xplenty": "stopped",
    "runner": "STOPPED",
    "vonage": "stopped",
    "matatika": "STOPPED",
}


def write_specs(repo: Repo, state: str) -> None:
    for name, (instance, job) in SPECS.items():
        repo.spec(
            f"{name}.yaml",
            f"apiVersion: reconciler/v1\nkind: JobRun\nmetadata: {{name: {name}-run}}\n"
            f"spec:\n  provider: {instance}\n  job: {job}\n  state: {state}\n",
        )


def test_four_providers_start_converge_and_stop(repo: Repo) -> None:
    (repo.root / "reconciler.yaml").write_text(CONFIG)
    write_specs(repo, "completed")
    code, out, _ = repo.run("--sandbox", "plan", "--detailed-exitcode")
    assert (code, out.count(" + start ")) == (2, 4)
    assert repo.run("--sandbox", "apply", "--auto-approve")[0] == 0
    lock = json.loads((repo.root / "reconciler.lock").read_text())
    assert {r["provider_type"] for r in lock["runs"].values()} == set(SPECS)
    assert all(r["run_id"] for r in lock["runs"].values())
    assert repo.run("--sandbox", "plan", "--detailed-exitcode")[0] == 0

    repo.advance(5)  # every run is running now (Matatika can stop RUNNING jobs only)
    write_specs(repo, "stopped")
    code, out, _ = repo.run("--sandbox", "plan", "--detailed-exitcode")
    assert (code, out.count(" - stop ")) == (2, 4)
    assert repo.run("--sandbox", "apply", "--auto-approve")[0] == 0
    repo.advance(10)
    _, out, _ = repo.run("--sandbox", "show")
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    for name, api_status in TERMINAL_API_STATUS.items():
        assert rows[f"{name}-run"][5:7] == ["stopped", api_status], rows[f"{name}-run"]
    assert repo.run("--sandbox", "plan", "--detailed-exitcode")[0] == 0


def test_example_repository_validates(repo: Repo) -> None:
    root = Path(__file__).parents[2]
    code, out, err = repo.run("--config", str(root / "reconciler.yaml"), "validate")
    assert (code, err) == (0, "")
    assert out == "7 spec(s) valid.\n"  # specs/orders.yaml holds three, one scheduled


def test_vonage_application_key_credentials_work_unresolved_under_the_sandbox(repo: Repo) -> None:
    # With no key in the environment, --sandbox stands in for the whole credential set.
    config = CONFIG.replace(
        "      token: env:VONAGE_JWT\n",
        "      application_id: env:VONAGE_APPLICATION_ID\n      private_key: file:vonage.key\n",
    )
    assert "private_key: file:vonage.key" in config
    (repo.root / "reconciler.yaml").write_text(config)
    instance, job = SPECS["vonage"]
    repo.spec(
        "vonage.yaml",
        f"apiVersion: reconciler/v1\nkind: JobRun\nmetadata: {{name: vonage-run}}\n"
        f"spec:\n  provider: {instance}\n  job: {job}\n",
    )
    code, out, _ = repo.run("--sandbox", "apply", "--auto-approve")
    run_id = json.loads((repo.root / "reconciler.lock").read_text())["runs"]["vonage-run"]["run_id"]
    assert (code, out) == (
        0,
        "reconciler plan (refresh: campaigns 1 call)\n\n"
        "    + start       vonage-run  campaigns: new spec\n\n"
        "Plan: 1 to start.\n\n"
        f"    + start       vonage-run  campaigns: started run {run_id} (running)\n\n"
        "Apply complete: 1 started; lockfile serial 1.\n",
    )
