"""A spec repository on a separately running sandbox, with what to check at the provider."""

from __future__ import annotations

import itertools
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import free_port, wait_for_sandbox

CONFIG = """\
apiVersion: reconciler/v1
kind: Config
providers:
  etl:
    type: xplenty
    base_url: {url}/xplenty
    account: acme
    credentials:
      api_key: env:XPLENTY_API_KEY
    concurrency: 4
  ctl:
    type: runner
    base_url: {url}/runner
    account: ACME
    credentials:
      username: env:CLC_USERNAME
      password: env:CLC_PASSWORD
    options:
      auth_url: {url}/runner
  campaigns:
    type: vonage
    base_url: {url}/vonage/beta
    credentials:
      token: env:VONAGE_JWT
  elt:
    type: matatika
    base_url: {url}/matatika/api
    credentials:
      token: env:MATATIKA_TOKEN
"""

ENV = {
    "XPLENTY_API_KEY": "xk",
    "CLC_USERNAME": "ops",
    "CLC_PASSWORD": "pw",
    # A well-formed JWT: {"alg":"none"}.{"sub":"world"}.x
    "VONAGE_JWT": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ3b3JsZCJ9.x",
    "MATATIKA_TOKEN": "mt",
}

JOBS = {
    "etl": "{{cluster_id: 1, package_id: {n}}}",
    "ctl": "{{job_id: job-{n}}}",
    "campaigns": "{{job_id: vjob-{n}, duration: {hours}h}}",
    "elt": "{{pipeline_id: pipe-{n}}}",
}


def file_size_limit(limit: int) -> Callable[[], None]:
    """For ``preexec_fn``: writes in the child fail past ``limit`` bytes (EFBIG, as on a full
    disk) instead of killing it with SIGXFSZ."""

    def restrict() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return restrict


class World:
    def __init__(
        self,
        root: Path,
        seed: str = "",
        per_provider: int = 6,
        credentials: dict[str, str] | None = None,
    ) -> None:
        self.root = root
        self.db = root / "sandbox.db"
        (root / "repo" / "specs").mkdir(parents=True)
        (root / "seed.yaml").write_text(seed or "{}\n")
        self.credentials = root / "credentials"  # credential files live outside the repo
        self.credentials.mkdir()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The sandbox is on loopback over http: allowed explicitly, as a real run must.
        self.env = {
            **os.environ,
            **ENV,
            **(credentials or {}),
            "RECONCILER_ALLOW_HOSTS": f"127.0.0.1:{self.port}",
            "RECONCILER_CREDENTIAL_DIRS": str(self.credentials),
        }
        self.server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reconciler",
                "sandbox",
                "serve",
                "--port",
                str(self.port),
                "--seed",
                str(root / "seed.yaml"),
                "--state",
                str(self.db),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_sandbox(self.url, self.server)
        (self.repo / "reconciler.yaml").write_text(CONFIG.format(url=self.url))
        self.specs: dict[str, tuple[str, int]] = {}  # name -> (instance, scope number)
        self.reruns: Counter[str] = Counter()
        self.states: dict[str, str] = {}  # name -> desired state, where one is written
        self.edits: Counter[str] = Counter()  # job edits (the campaigns' duration)
        self.schedule: str | None = None  # a spec block every spec gets (a schedule)
        self.schedules: dict[str, str] = {}  # name -> a block that spec alone gets
        self.after: dict[str, str] = {}  # name -> the spec it runs after
        self.campaign_duration = "{hours}h"
        for instance in JOBS:
            for i in range(per_provider):
                self.specs[f"{instance}-{i}"] = (instance, 1000 + i)
                self.write_spec(f"{instance}-{i}")

    def use_postgres(self, dsn: str, lease: int) -> None:
        """The state in PostgreSQL with a short lease, each instance's timeout half of it (the
        most the configuration allows: a start is sent only while its timeout is left)."""
        config = self.repo / "reconciler.yaml"
        text = config.read_text().replace(
            "\n    type: ", f"\n    timeout: {lease // 2}s\n    type: "
        )
        state = f"state:\n  backend: postgres\n  dsn: env:RECONCILER_PG_DSN\n  lease: {lease}s\n"
        config.write_text(text + state)
        self.env["RECONCILER_PG_DSN"] = dsn

    @property
    def repo(self) -> Path:
        return self.root / "repo"

    @property
    def journal(self) -> Path:
        return self.repo / "reconciler.lock.journal"

    def write_spec(self, name: str) -> None:
        instance, n = self.specs[name]
        text = (
            f"apiVersion: reconciler/v1\nkind: JobRun\nmetadata: {{name: {name}}}\nspec:\n"
            f"  provider: {instance}\n"
            f"  job: {self.job(instance, n, name)}\n"
            f"  rerun: {self.reruns[name]}\n"
        )
        if name in self.states:
            text += f"  state: {self.states[name]}\n"
        if self.schedule or name in self.schedules:
            text += self.schedules.get(name) or self.schedule or ""
        if name in self.after:
            text += f"  after: [{self.after[name]}]\n"
        (self.repo / "specs" / f"{name}.yaml").write_text(text)

    def job(self, instance: str, n: int, name: str) -> str:
        template = JOBS[instance].replace("{hours}h", self.campaign_duration)
        return template.format(n=n, hours=2 + self.edits[name])

    def chain(self, names: list[str]) -> None:
        """Each spec of ``names`` runs after the one before it."""
        for upstream, name in itertools.pairwise(names):
            self.after[name] = upstream
            self.write_spec(name)

    def schedule_some(self, names: list[str], block: str) -> None:
        """The specs of ``names`` scheduled: ``block`` is their ``schedule:``."""
        for name in names:
            self.schedules[name] = block
            self.write_spec(name)

    def schedule_all(self, block: str) -> None:
        """Every spec scheduled: ``block`` is its ``schedule:`` (and any other spec keys)."""
        self.schedule = block
        for name in self.specs:
            self.write_spec(name)

    def bump(self, name: str) -> None:
        """A new revision: exactly one more run is owed for this spec."""
        self.reruns[name] += 1
        self.write_spec(name)

    def set_state(self, name: str, state: str) -> None:
        """``running``, ``stopped`` or ``completed`` (the default): the revision stays."""
        self.states[name] = state
        self.write_spec(name)

    def command(self, *args: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "reconciler",
            "--config",
            str(self.repo / "reconciler.yaml"),
            *args,
        ]

    def start(
        self, *args: str, stdout: int = subprocess.PIPE, stderr: int = subprocess.PIPE
    ) -> subprocess.Popen[str]:
        """A command left running, to be raced, signalled or killed."""
        return subprocess.Popen(
            self.command(*args),
            env=self.env,
            cwd=self.repo,
            stdout=stdout,
            stderr=stderr,
            text=True,
        )

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            env=self.env,
            cwd=self.repo,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def advance(self, seconds: float) -> None:
        httpx.post(f"{self.url}/_sandbox/clock", json={"advance": seconds}).raise_for_status()

    def converge(self, rounds: int = 12) -> list[str]:
        """Apply until an apply finds nothing to do; the outputs of each apply."""
        outputs = []
        for _ in range(rounds):
            done = self.run("apply", "--auto-approve", "--lock-timeout", "30")
            outputs.append(done.stdout + done.stderr)
            assert "Traceback" not in outputs[-1], outputs[-1]
            if done.returncode == 0 and "No changes." in done.stdout:
                return outputs
            self.advance(5)  # let stops finish, so one-at-a-time pipelines free up
        raise AssertionError("did not converge:\n" + "\n---\n".join(outputs[-3:]))

    def runs_per_spec(self) -> Counter[str]:
        """How many runs the providers hold for each spec (each spec has its own scope)."""
        by_scope = {(instance, n): name for name, (instance, n) in self.specs.items()}
        counts: Counter[str] = Counter()
        with sqlite3.connect(self.db) as db:
            queries = {
                "etl": "SELECT package_id FROM xplenty_jobs",
                "ctl": "SELECT CAST(substr(job_id, 5) AS INTEGER) FROM runner_executions",
                "campaigns": "SELECT CAST(substr(job_id, 6) AS INTEGER) FROM vonage_runs",
                "elt": "SELECT CAST(substr(pipeline_id, 6) AS INTEGER) FROM matatika_jobs",
            }
            for instance, sql in queries.items():
                for (n,) in db.execute(sql):
                    counts[by_scope[(instance, n)]] += 1
        return counts

    def keys_started_twice(self) -> list[str]:
        """Run keys (Xplenty variables, Vonage names) that appear on more than one run."""
        with sqlite3.connect(self.db) as db:
            keys = [
                json.loads(v).get("RECONCILER_RUN_KEY")
                for (v,) in db.execute("SELECT variables FROM xplenty_jobs")
            ]
            keys += [name for (name,) in db.execute("SELECT name FROM vonage_runs")]
        return sorted(k for k, n in Counter(keys).items() if n > 1)

    def assert_exactly_once(self) -> None:
        expected = Counter({name: 1 + self.reruns[name] for name in self.specs})
        assert self.keys_started_twice() == []
        assert self.runs_per_spec() == expected

    def close(self) -> None:
        self.server.terminate()
        self.server.wait(10)
