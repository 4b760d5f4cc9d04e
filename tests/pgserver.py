"""A real PostgreSQL server for the tests: the machine's binaries, a temporary directory, a
free port on 127.0.0.1 only (and a unix socket in the directory), stopped and deleted after.

``initdb`` refuses to run as root, so as root (as CI runs) the server runs as an unprivileged
user (``nobody``, or ``reconciler-test``, created when there is neither) through ``runuser``.
Without PostgreSQL the tests that need it are skipped, with how to enable them; under
``CI=true`` they fail instead, since ``.ci/run`` installs it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

BIN_VARIABLE = "RECONCILER_TEST_PG_BIN"
HOW_TO_ENABLE = (
    "PostgreSQL tests skipped: no PostgreSQL server binaries (initdb, pg_ctl) found; "
    f"install them (apt-get install postgresql) or set {BIN_VARIABLE} to their directory"
)
PASSWORD = "pw-7f3a9c-never-shown"  # in every DSN; the server trusts 127.0.0.1 and ignores it


def find_bindir() -> Path | None:
    """$RECONCILER_TEST_PG_BIN, the newest /usr/lib/postgresql/*/bin, or pg_ctl on PATH."""
    candidates = [os.environ.get(BIN_VARIABLE, "")]
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    on_path = shutil.which("pg_ctl")
    candidates.append(os.path.dirname(on_path) if on_path else "")
    for directory in filter(None, candidates):
        if all(os.access(Path(directory, b), os.X_OK) for b in ("initdb", "pg_ctl", "postgres")):
            return Path(directory)
    return None


def _server_user() -> str | None:
    """Who runs the server: ourselves unless root, else an unprivileged user."""
    if os.geteuid() != 0:
        return None
    for name in ("nobody", "reconciler-test"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "reconciler-test"], check=True
    )  # pragma: no cover - a machine without nobody
    return "reconciler-test"  # pragma: no cover


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    directory: Path
    port: int

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres:{PASSWORD}@127.0.0.1:{self.port}/{dbname}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.dsn(), autocommit=True)

    def new_database(self, prefix: str) -> str:
        """The DSN of a new, empty database named ``prefix`` and a random suffix."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name}".encode())
        return self.dsn(name)


@contextlib.contextmanager
def running_server(bindir: Path) -> Iterator[PgServer]:
    user = _server_user()
    as_user = ["runuser", "-u", user, "--"] if user else []
    directory = Path(tempfile.mkdtemp(prefix="reconciler-pg-"))
    try:
        if user:
            entry = pwd.getpwnam(user)
            os.chown(directory, entry.pw_uid, entry.pw_gid)
        data, port = directory / "data", _free_port()

        def run(*argv: str) -> None:
            subprocess.run(
                [*as_user, *argv], check=True, capture_output=True, cwd=directory, timeout=60
            )

        run(
            str(bindir / "initdb"),
            "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {directory} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(directory / "log"), "-w",
            "-o", options, "start")  # fmt: skip
        try:
            yield PgServer(directory, port)
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def benchmark_server() -> Iterator[PgServer]:
    """A server for a benchmark script: one line and exit 1 without the binaries."""
    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("no PostgreSQL server binaries: apt-get install postgresql")
    with running_server(bindir) as server:
        yield server


def server_or_skip() -> Path:
    """The binaries' directory; skipped without them, or failed under CI."""
    bindir = find_bindir()
    if bindir is None:
        if os.environ.get("CI") == "true":
            pytest.fail(HOW_TO_ENABLE.replace("skipped", "cannot run under CI=true"))
        pytest.skip(HOW_TO_ENABLE)
    return bindir
