"""`reconciler logs NAME [--follow]` on the sandbox: Xplenty's and Matatika's logs as their
APIs keep them, a clear line for Runner and Vonage, which keep none a run can be asked for."""

from __future__ import annotations

import re

from tests.cli.test_after import CHAIN, FAST, jobrun
from tests.cli.test_four_providers import CONFIG as FOUR_PROVIDERS
from tests.conftest import Repo

SEED = ("--sandbox", "--sandbox-seed", "seed.yaml")


def four_runs(repo: Repo, seed: str) -> None:
    (repo.root / "reconciler.yaml").write_text(FOUR_PROVIDERS)
    (repo.root / "seed.yaml").write_text(seed)
    for name, (instance, job, _) in CHAIN.items():
        repo.spec(f"{name}.yaml", jobrun(name, instance, job, []))
    assert repo.run(*SEED, "apply", "--auto-approve")[0] == 0


def test_logs_of_each_provider_that_keeps_them(repo: Repo) -> None:
    four_runs(repo, FAST % "completed")
    repo.advance(60)  # every run has ended
    code, out, err = repo.run(*SEED, "logs", "extract")
    assert (code, err) == (0, "")
    assert re.fullmatch(
        r"job 1 created at \S+Z\njob 1 started on cluster 1 at \S+Z\njob 1 completed \S+Z\n", out
    ), out
    code, out, err = repo.run(*SEED, "logs", "report")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].endswith(" queued")
    assert lines[-1].endswith(" complete")
    for name, kind in (("patch", "runner"), ("campaign", "vonage")):
        code, out, err = repo.run(*SEED, "logs", name)
        assert (code, out) == (1, "")
        instance = CHAIN[name][0]
        assert err == (
            f"Error: {instance} is an instance of {kind}: its API keeps no log of a run "
            f"(docs/providers/{kind}.md)\n"
        )


def test_follow_prints_what_a_run_adds_until_it_ends(repo: Repo) -> None:
    slow = FAST.replace("matatika: {queued: 0, running: 1}", "matatika: {queued: 0, running: 12}")
    four_runs(repo, slow % "completed")
    code, out, err = repo.run(*SEED, "logs", "--follow", "--interval", "0.5", "report")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].endswith(" queued")
    assert "extracted batch 1" in lines  # written while it ran, printed as it came
    assert lines[-1].endswith(" complete")
    assert len(lines) == len(set(lines))  # each line once


def test_logs_of_a_name_with_no_run(repo: Repo) -> None:
    repo.spec("a.yaml", "")
    code, out, err = repo.run("logs", "nothing-here")
    assert (code, out, err) == (1, "", "Error: the lockfile records no run for 'nothing-here'\n")
