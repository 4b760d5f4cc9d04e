from __future__ import annotations

import os
import socket
import subprocess
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import settings

from reconciler.cli import main
from reconciler.sandbox.emulators import EMULATORS
from reconciler.sandbox.seed import Seed
from reconciler.sandbox.server import BackgroundSandbox
from reconciler.sandbox.store import Store
from tests.pgserver import PgServer, running_server, server_or_skip

# Under CI the property tests are derandomized: the same examples each run, so a red CI is a
# change's doing, never a draw. Exploration is for local runs and the long campaigns
# (SANDBOX_FUZZ_EXAMPLES), whose finds become explicit tests.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

FIGURES: list[str] = []  # measured by harness tests, printed at the end of the run (CI log)


@pytest.fixture(autouse=True)
def outside_github_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite may itself run in GitHub Actions: its annotations and summary are tested on
    purpose, with the variables set by the test."""
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def report_figure() -> Callable[[str], None]:
    """Record a line of figures (trials, faults, duplicates) for the end of the test run."""
    return FIGURES.append


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL server for the session (about a second to start)."""
    with running_server(server_or_skip()) as server:
        yield server


@pytest.fixture
def pg_dsn(pg_server: PgServer) -> Iterator[str]:
    """The DSN of a new, empty database on the session's server, dropped after the test."""
    dsn = pg_server.new_database("t")
    yield dsn
    with pg_server.admin() as conn:
        conn.execute(f"DROP DATABASE {dsn.rsplit('/', 1)[1]} WITH (FORCE)".encode())


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
specs: [specs]
"""


def jobrun(name: str, *, package: int = 103, extra: str = "", variables: str = "{}") -> str:
    return textwrap.dedent(
        f"""\
        apiVersion: reconciler/v1
        kind: JobRun
        metadata:
          name: {name}
        spec:
          provider: etl
          job:
            cluster_id: 167
            package_id: {package}
            variables: {variables}
        """
    ) + textwrap.indent(textwrap.dedent(extra), "  ")


class Listener:
    """A loopback TCP server that records every connection and byte, and answers each
    request with ``answer`` (a redirect, in one test)."""

    def __init__(self, answer: bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]") -> None:
        self.answer = answer
        self.connections = 0
        self.received = b""
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(2)
                try:
                    self.received += conn.recv(65536)
                    conn.sendall(self.answer)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


class Repo:
    """A spec repository in a temporary directory, driven through the real CLI entry point."""

    def __init__(self, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.root = root
        self.capsys = capsys
        (root / "specs").mkdir()
        (root / "reconciler.yaml").write_text(CONFIG)

    def spec(self, filename: str, text: str) -> Path:
        path = self.root / "specs" / filename
        path.write_text(text)
        return path

    def run(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(["--config", str(self.root / "reconciler.yaml"), *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def sandbox_store(self) -> Store:
        """The sandbox's database, with its tables even before any sandbox ran on it."""
        store = Store(self.root / ".reconciler" / "sandbox.db")
        for emulator in EMULATORS:
            store.create_tables(emulator.tables)
        return store

    def xplenty_jobs(self) -> int:
        """How many jobs the sandbox's Xplenty holds: the runs started, counted at the API."""
        store = self.sandbox_store()
        try:
            return len(store.query("SELECT id FROM xplenty_jobs"))
        finally:
            store.close()

    def advance(self, seconds: float) -> None:
        store = self.sandbox_store()
        try:
            store.advance(seconds)
        finally:
            store.close()


@pytest.fixture
def repo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Repo:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XPLENTY_API_KEY", "test-key")
    return Repo(tmp_path, capsys)


@pytest.fixture
def sandbox() -> Iterator[BackgroundSandbox]:
    with BackgroundSandbox(seed=Seed()) as server:
        yield server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_sandbox(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Until a sandbox started as a separate process answers its health check."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(f"{url}/_sandbox/health").raise_for_status()
            return
        except httpx.TransportError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("sandbox did not start") from None
            time.sleep(0.05)


def advance(server: BackgroundSandbox, seconds: float) -> None:
    httpx.post(f"{server.url}/_sandbox/clock", json={"advance": seconds}).raise_for_status()
