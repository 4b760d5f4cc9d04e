"""Issue 18: every apply ends with a tally, a partial one included (`Apply incomplete: 2
started, 2 failed`), and a long apply logs a heartbeat line when stderr is not a terminal (CI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CONFIG, Repo, jobrun

# Only packages 101 and 102 exist in the account: a start of any other is refused (HTTP 422).
KNOWN_PACKAGES = """\
xplenty:
  accounts:
    acme:
      api_keys: [test-key]
      clusters: [{id: 167, name: main}]
      packages: [{id: 101, name: first}, {id: 102, name: second}]
"""


def test_a_partly_failed_apply_ends_with_its_tally(repo: Repo) -> None:
    repo.spec("all.yaml", "---\n".join(jobrun(f"run-{p}", package=p) for p in (101, 102, 998, 999)))
    seed = repo.root / "seed.yaml"
    seed.write_text(KNOWN_PACKAGES)
    code, out, err = repo.run("--sandbox", "--sandbox-seed", str(seed), "apply", "--auto-approve")
    assert code == 1
    assert out.endswith("\nApply incomplete: 2 started, 2 failed; lockfile serial 1.\n")
    assert "Apply complete" not in out
    assert err == (
        "Error: start run-998: etl (xplenty): Package 998 does not exist (HTTP 422)\n"
        "Error: start run-999: etl (xplenty): Package 999 does not exist (HTTP 422)\n"
    )
    lock = json.loads((repo.root / "reconciler.lock").read_text())
    assert sorted(lock["runs"]) == ["run-101", "run-102"]  # what did start is recorded

    # The next apply tries only the refused ones again, and says so in its tally.
    code, out, _ = repo.run("--sandbox", "--sandbox-seed", str(seed), "apply", "--auto-approve")
    assert (code, out.count(" + start ")) == (1, 2)
    tally = out.rstrip("\n").rsplit("\n", 1)[1]
    assert tally.startswith("Apply incomplete: 2 failed; lockfile serial ")  # nothing started


@pytest.mark.timeout(120)
def test_an_apply_longer_than_ten_seconds_logs_a_heartbeat_when_not_on_a_terminal(
    tmp_path: Path,
) -> None:
    """In a CI log (stderr a pipe): no live line, one heartbeat line per 10 seconds. The
    interval is fixed (10 s, reconciler/commands/common.py): a stop held open 10.5 s by the
    sandbox (`slow_stop`, so that the refresh before it stays fast) makes one."""
    (tmp_path / "reconciler.yaml").write_text(CONFIG)
    (tmp_path / "specs").mkdir()
    spec = tmp_path / "specs" / "one.yaml"
    spec.write_text(jobrun("nightly"))
    (tmp_path / "slow-stops.yaml").write_text("faults:\n  xplenty: {slow_stop: 10.5}\n")

    def apply(*seed: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "reconciler", "--sandbox", *seed, "apply", "--auto-approve"],
            cwd=tmp_path,
            env={**os.environ, "XPLENTY_API_KEY": "k"},
            capture_output=True,
            text=True,
            timeout=60,
        )

    started = apply()
    assert (started.returncode, started.stderr) == (0, ""), started.stdout
    spec.write_text(jobrun("nightly", extra="state: stopped\n"))
    stopped = apply("--sandbox-seed", "slow-stops.yaml")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stderr == "Still applying: 0 of 1 actions done [10s elapsed]\n"
    assert "\x1b" not in stopped.stderr + stopped.stdout  # no live line, no colour
    assert stopped.stdout.endswith("\nApply complete: 1 stopped; lockfile serial 2.\n")
