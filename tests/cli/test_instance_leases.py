"""Per-instance exclusion through the real CLI, with the state in a real PostgreSQL database: while
another applier holds provider instance ``etl``, an apply targeting a spec on ``etl2`` proceeds
at once, one targeting a spec on ``etl`` (or the whole state) is refused naming the holder; the
records of both land, and the sandbox's database shows each run started once."""

from __future__ import annotations

import threading
import time

import pytest

from reconciler.state.pgstore import PgStore
from tests.cli.test_bad_input import configure
from tests.cli.test_postgres_state import use_postgres
from tests.conftest import Repo, jobrun

ETL2 = """\
  etl2:
    type: xplenty
    base_url: https://api.xplenty.com
    account: acme
    credentials:
      api_key: env:XPLENTY_API_KEY
specs: [specs]
"""


@pytest.fixture
def two_instances(repo: Repo, monkeypatch: pytest.MonkeyPatch, pg_dsn: str) -> Repo:
    configure(repo, "specs: [specs]\n", ETL2)
    use_postgres(repo, monkeypatch, pg_dsn)
    repo.spec("a.yaml", jobrun("on-etl"))
    repo.spec(
        "b.yaml", jobrun("on-etl2", package=104).replace("provider: etl\n", "provider: etl2\n")
    )
    return repo


def test_an_apply_on_another_instance_proceeds_while_one_is_held(
    two_instances: Repo, pg_dsn: str
) -> None:
    repo = two_instances
    store = PgStore(pg_dsn)
    with store.locked("reconciler apply --target on-etl", scopes=["etl"]):
        began = time.monotonic()
        code, out, err = repo.run("--sandbox", "apply", "--auto-approve", "--target", "on-etl2")
        assert (code, err) == (0, ""), out
        assert time.monotonic() - began < 30  # not held up by the other lease (60 s)
        for target in (("--target", "on-etl"), ()):
            code, out, err = repo.run("--sandbox", "apply", "--auto-approve", *target)
            assert (code, out) == (1, "")
            what = "provider instance etl of the state" if target else "the state"
            assert err.startswith(f"Error: {what} {store.name} is locked by pid "), err
            assert "(reconciler apply --target on-etl, since " in err
    code, out, err = repo.run("--sandbox", "apply", "--auto-approve", "--target", "on-etl")
    assert (code, err) == (0, ""), out
    assert repo.run("--sandbox", "plan", "--detailed-exitcode")[0] == 0
    assert sorted(r.run_id is not None for r in store.read().runs.values()) == [True, True]
    assert repo.xplenty_jobs() == 2


def test_appliers_on_disjoint_instances_run_at_once_and_start_each_run_once(
    two_instances: Repo, pg_dsn: str
) -> None:
    """Two targeted applies in threads of one process (the CLI entry point, as a CI job
    runs it), each waiting for its lease up to 30 s: both finish, neither refused."""
    repo = two_instances
    codes: dict[str, int] = {}

    def apply(target: str) -> None:
        from reconciler.cli import main

        argv = ["--config", str(repo.root / "reconciler.yaml"), "--sandbox"]
        codes[target] = main(
            [*argv, "apply", "--auto-approve", "--lock-timeout", "30", "--target", target]
        )

    threads = [threading.Thread(target=apply, args=(t,)) for t in ("on-etl", "on-etl2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == {"on-etl": 0, "on-etl2": 0}
    assert repo.xplenty_jobs() == 2
    assert sorted(PgStore(pg_dsn).read().runs) == ["on-etl", "on-etl2"]
