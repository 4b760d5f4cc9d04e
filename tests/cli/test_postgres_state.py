"""The state in PostgreSQL, chosen in reconciler.yaml, through the real CLI: apply and plan
against the sandbox with the state in a real database, configuration problems as one line
each with their place, and a DSN that no output shows."""

from __future__ import annotations

import psycopg
import pytest

from tests.cli.test_bad_input import configure, refused
from tests.conftest import Repo, jobrun
from tests.pgserver import PASSWORD, PgServer

POSTGRES = "state:\n  backend: postgres\n  dsn: env:RECONCILER_PG_DSN\n"


def use_postgres(repo: Repo, monkeypatch: pytest.MonkeyPatch, dsn: str) -> None:
    configure(repo, "specs: [specs]\n", f"specs: [specs]\n{POSTGRES}")
    monkeypatch.setenv("RECONCILER_PG_DSN", dsn)


def shows_no_secret(dsn: str, *outputs: str) -> None:
    for output in outputs:
        assert PASSWORD not in output
        assert dsn not in output


def test_apply_and_plan_keep_the_state_in_postgres(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, pg_dsn: str
) -> None:
    use_postgres(repo, monkeypatch, pg_dsn)
    repo.spec("a.yaml", jobrun("nightly-a"))
    repo.spec("b.yaml", jobrun("nightly-b", package=104))
    code, out, err = repo.run("--sandbox", "apply", "--auto-approve")
    assert (code, err) == (0, "")
    assert "2 to start" in out
    code, again, err = repo.run("--sandbox", "plan", "--detailed-exitcode")
    assert (code, err) == (0, ""), again
    assert not (repo.root / "reconciler.lock").exists()
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute("SELECT name, run_id IS NOT NULL FROM records ORDER BY name")
        assert rows.fetchall() == [("nightly-a", True), ("nightly-b", True)]
    assert repo.xplenty_jobs() == 2
    code, shown, err = repo.run("--sandbox", "show", "nightly-a")
    assert (code, err) == (0, "")
    shows_no_secret(pg_dsn, out, again, shown)


@pytest.mark.parametrize(
    ("state", "line"),
    [
        (
            "state:\n  backend: postgres\n",
            "reconciler.yaml:11:1: state: backend: postgres needs dsn: env:NAME or "
            "file:PATH (the connection string is a credential)",
        ),
        (
            f"state:\n  backend: postgres\n  dsn: postgresql://u:{PASSWORD}@db/x\n",
            "reconciler.yaml:13:3: state.dsn: literal secrets are not allowed; "
            "write env:NAME or file:PATH",
        ),
        (
            "state:\n  backend: sqlite\n",
            "reconciler.yaml:12:3: state.backend: Input should be 'file' or 'postgres'",
        ),
        (
            "state:\n  dsn: env:RECONCILER_PG_DSN\n",
            "reconciler.yaml:11:1: state: dsn is for backend: postgres; the file "
            "backend uses `lockfile`",
        ),
        (
            f"{POSTGRES}  lease: 40s\n",
            "reconciler.yaml:14:3: state.lease: provider etl's timeout (30s) is more than half "
            "the state's lease (40s): a start is sent only while its timeout and a tenth of the "
            "lease are left of the lease; make the lease at least 1m or the timeout at most 20s",
        ),
    ],
    ids=["no-dsn", "literal-dsn", "unknown-backend", "dsn-without-postgres", "short-lease"],
)
def test_a_bad_state_setting_is_one_line_with_its_place(repo: Repo, state: str, line: str) -> None:
    configure(repo, "specs: [specs]\n", f"specs: [specs]\n{state}")
    assert refused(repo) == [line]


def test_a_timeout_too_long_for_the_lease_is_told_at_the_timeout(repo: Repo) -> None:
    configure(repo, "specs: [specs]\n", f"specs: [specs]\n{POSTGRES}")
    configure(repo, "    account: acme\n", "    account: acme\n    timeout: 31s\n")
    assert refused(repo) == [
        "reconciler.yaml:8:5: providers.etl.timeout: provider etl's timeout (31s) is more "
        "than half the state's lease (1m): a start is sent only while its timeout and a tenth "
        "of the lease are left of the lease; make the lease at least 1m2s or the timeout at "
        "most 30s"
    ]


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("RECONCILER_PG_DSN", None, "$RECONCILER_PG_DSN is not set"),
        ("GITHUB_TOKEN", "x", "$GITHUB_TOKEN belongs to the CI platform or reconciler"),
        ("RECONCILER_PLAN_KEY", "x", "$RECONCILER_PLAN_KEY belongs to the CI platform"),
    ],
)
def test_a_dsn_reference_follows_the_credential_rules(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, variable: str, value: str | None, reason: str
) -> None:
    configure(repo, "specs: [specs]\n", f"specs: [specs]\n{POSTGRES}")
    configure(repo, "env:RECONCILER_PG_DSN", f"env:{variable}")
    monkeypatch.delenv("RECONCILER_PG_DSN", raising=False)
    if value is not None:
        monkeypatch.setenv(variable, value)
    repo.spec("a.yaml", jobrun("nightly-a"))
    code, _, err = repo.run("--sandbox", "plan")
    assert code == 1
    assert err.startswith(f"Error: the state's DSN (state.dsn in reconciler.yaml): {reason}")
    code, _, err = repo.run("validate")  # needs no state, so no DSN
    assert code == 0, err


def test_an_unreachable_database_is_named_without_the_dsn(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn = f"postgresql://admin:{PASSWORD}@127.0.0.1:1/reconciler?sslmode=disable"
    use_postgres(repo, monkeypatch, dsn)
    repo.spec("a.yaml", jobrun("nightly-a"))
    for command in (
        ("--sandbox", "plan"),
        ("--sandbox", "apply", "--auto-approve"),
        ("--debug", "--sandbox", "plan"),
    ):
        code, out, err = repo.run(*command)
        assert code == 1
        assert (
            "Error: the state database PostgreSQL 127.0.0.1:1/reconciler: connection refused" in err
        )
        shows_no_secret(dsn, out, err)
        assert "admin" not in out + err


def test_commands_on_the_lockfile_are_refused_with_postgres(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, pg_dsn: str
) -> None:
    use_postgres(repo, monkeypatch, pg_dsn)
    for command, what in [
        (("journal", "show"), "reconciler journal show"),
        (("--lockfile", "elsewhere.lock", "plan"), "--lockfile names a state file"),
    ]:
        code, _, err = repo.run(*command)
        assert code == 1
        assert err.startswith("Error: " + what), err


def test_a_refused_role_is_not_named_even_with_debug(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, pg_server: PgServer
) -> None:
    dsn = pg_server.dsn().replace("postgres:", "someone-7f3a:", 1)
    use_postgres(repo, monkeypatch, dsn)
    repo.spec("a.yaml", jobrun("nightly-a"))
    code, out, err = repo.run("--debug", "--sandbox", "plan")
    assert code == 1
    where = f"127.0.0.1:{pg_server.port}/postgres"
    assert (
        f"Error: the state database PostgreSQL {where}: the database or role does not exist" in err
    )
    shows_no_secret(dsn, out, err)
    assert "someone-7f3a" not in out + err
