"""`watch --notify`: each failed run, exhausted retry and missed occurrence sent once, to a real
HTTP receiver, however many cycles see it, across a restart (the file ledger), and across two
replicas of one PostgreSQL state, the instance's owner stopped and replaced (the notifications
table)."""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox.store import Store
from tests.cli.test_watch import next_cycle, start_watch, stop_watch
from tests.cli.test_watch_status import scrape
from tests.conftest import CONFIG, free_port, jobrun
from tests.resilience.world import World

# Package 200's runs fail after a second: the first run and its one retry.
SEED = (
    "xplenty:\n  runs:\n    packages: {200: {idle: 0, pending: 0, running: 1, outcome: failed}}\n"
)
FAILING = jobrun("nightly-load", package=200, extra="retry: {limit: 1}\n")


class Receiver:
    """A notification endpoint on loopback: every JSON body posted to it, in order."""

    def __init__(self, refuse: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []  # those it accepted
        self.refuse = refuse  # answer 503 to this many first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length))
                status = 503 if receiver.refuse > 0 else 200
                receiver.refuse -= 1
                if status == 200:
                    receiver.bodies.append(body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"


def jobs(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM xplenty_jobs").fetchone()[0])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.server.shutdown()
    made.server.server_close()


@pytest.mark.timeout(120)
def test_each_event_is_sent_once_however_many_cycles_and_restarts(
    tmp_path: Path, receiver: Receiver
) -> None:
    (tmp_path / "reconciler.yaml").write_text(CONFIG)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "load.yaml").write_text(FAILING)
    (tmp_path / "seed.yaml").write_text(SEED)
    env = {"ALERTS_URL": receiver.url, "SLACK_URL": receiver.url.replace("hook", "slack")}
    args = (
        *("--sandbox", "--sandbox-seed", "seed.yaml", "watch", "--interval", "0.3"),
        *("--notify", "webhook=env:ALERTS_URL", "--notify", "slack=env:SLACK_URL"),
    )
    process, lines = start_watch(tmp_path, env, *args)
    try:
        next_cycle(lines, lambda c: c.get("actions") == {"start": 1})
        clock = Store(tmp_path / ".reconciler" / "sandbox.db")
        clock.advance(5)  # the first run failed
        retried = next_cycle(lines, lambda c: c.get("actions") == {"retry": 1})
        assert retried["notified"] == 2  # one event, two targets
        clock.advance(5)  # the retry failed too
        exhausted = next_cycle(lines, lambda c: c.get("actions") == {"failed": 1})
        assert exhausted["notified"] == 2
        for _ in range(5):  # still failed, cycle after cycle: nothing more is sent
            again = next_cycle(lines, lambda c: c.get("actions") == {"failed": 1})
            assert "notified" not in again
        clock.close()
    finally:
        stop_watch(process)
    webhook = [b for b in receiver.bodies if "event" in b]
    assert [b["event"] for b in webhook] == ["run_failed", "retries_exhausted"]
    assert webhook[0]["spec"] == "nightly-load"
    assert webhook[0]["instance"] == "etl"
    assert webhook[0]["summary"].startswith(f"run {webhook[0]['run_id']} failed; ")
    slack = [b["text"] for b in receiver.bodies if "text" in b]
    assert len(slack) == 2
    assert slack[0].startswith("reconciler: run failed: `nightly-load` on etl: run ")

    process, lines = start_watch(tmp_path, env, *args)  # a restart remembers what was sent
    try:
        again = next_cycle(lines, lambda c: c.get("actions") == {"failed": 1})
        assert "notified" not in again
    finally:
        stop_watch(process)
    assert len(receiver.bodies) == 4


@pytest.mark.timeout(120)
def test_a_refused_delivery_is_tried_again_by_a_later_cycle(tmp_path: Path) -> None:
    receiver = Receiver(refuse=2)
    (tmp_path / "reconciler.yaml").write_text(CONFIG)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "load.yaml").write_text(FAILING.replace("limit: 1", "limit: 0"))
    (tmp_path / "seed.yaml").write_text(SEED)
    args = ("--sandbox", "--sandbox-seed", "seed.yaml", "watch", "--interval", "0.3")
    process, lines = start_watch(
        tmp_path, {"ALERTS_URL": receiver.url}, *args, "--notify", "webhook=env:ALERTS_URL"
    )
    try:
        next_cycle(lines, lambda c: c.get("actions") == {"start": 1})
        clock = Store(tmp_path / ".reconciler" / "sandbox.db")
        clock.advance(5)
        clock.close()
        refused = next_cycle(lines, lambda c: "notify_errors" in c)
        assert refused["notify_errors"] == [
            "notify webhook of retries_exhausted nightly-load: answered 503"
        ]
        assert refused["status"] == "ok"  # a notification is not the cycle's failure
        sent = next_cycle(lines, lambda c: "notified" in c)
        assert sent["notified"] == 1
    finally:
        stop_watch(process)
        receiver.server.shutdown()
        receiver.server.server_close()
    assert [b["event"] for b in receiver.bodies] == ["retries_exhausted"]


def cycle_of_any(
    queues: list[queue.Queue[str]], predicate: Callable[[dict[str, Any]], bool], timeout: float = 30
) -> int:
    """Which of the replicas (by index) logs a cycle matching ``predicate`` first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for index, lines in enumerate(queues):
            try:
                if predicate(json.loads(lines.get(timeout=0.05))):
                    return index
            except queue.Empty:
                continue
    raise AssertionError("no such cycle")


@pytest.mark.timeout(180)
def test_each_event_is_sent_once_across_replicas_and_a_failover(
    tmp_path: Path, receiver: Receiver, pg_dsn: str
) -> None:
    """Two replicas of one PostgreSQL state: the owner of the spec's instance sends what it
    sees; stopped, it hands the instance over, and the other, seeing the same exhausted
    retry cycle after cycle, sends nothing more (the notifications table)."""
    sandbox = World(tmp_path, seed=SEED, per_provider=0)
    try:
        root = sandbox.repo
        sandbox.use_postgres(pg_dsn, lease=2)
        (root / "specs" / "load.yaml").write_text(FAILING)
        env = {**sandbox.env, "ALERTS_URL": receiver.url}
        args = ("watch", "--interval", "0.2", "--notify", "webhook=env:ALERTS_URL")
        replicas = [start_watch(root, env, *args) for _ in range(2)]
        queues = [lines for _, lines in replicas]
        try:
            cycle_of_any(queues, lambda c: c.get("actions") == {"start": 1})
            sandbox.advance(5)  # the first run failed: its owner retries
            cycle_of_any(queues, lambda c: c.get("actions") == {"retry": 1})
            sandbox.advance(5)  # the retry failed too
            owner = cycle_of_any(queues, lambda c: "notified" in c)
            other = 1 - owner
            stop_watch(replicas[owner][0])  # hands "etl" over as it leaves
            for _ in range(3):  # the other owns it now, and sees the same failure
                seen = next_cycle(queues[other], lambda c: c.get("actions") == {"failed": 1})
                assert seen["shards"] == ["etl"]
                assert "notified" not in seen
        finally:
            errors = [stop_watch(p) for p, _ in replicas if p.poll() is None]
    finally:
        sandbox.close()
    assert [b["event"] for b in receiver.bodies] == ["run_failed", "retries_exhausted"], errors


@pytest.mark.timeout(180)
def test_instances_no_replica_worked_on_are_told_once_by_the_next_replica(
    tmp_path: Path, receiver: Receiver, pg_dsn: str
) -> None:
    """The only replica stopped for longer than an interval and a lease: the next one to
    start tells, before its first cycle works on them, that each instance went unowned, once
    (in its line, its metrics, and one notification per instance); later cycles and a third
    replica tell nothing more."""
    world = World(tmp_path, per_provider=1)
    try:
        world.use_postgres(pg_dsn, lease=2)
        env = {**world.env, "ALERTS_URL": receiver.url}
        args = ("watch", "--interval", "0.2", "--notify", "webhook=env:ALERTS_URL")
        first, lines = start_watch(world.repo, env, *args)
        next_cycle(lines, lambda c: c.get("status") == "ok" and len(c["shards"]) == 4)
        stop_watch(first)
        time.sleep(0.2 + 2 + 1)  # past an interval and a lease: no replica at all meanwhile
        replicas = [start_watch(world.repo, env, *args)]
        try:
            told = next_cycle(replicas[0][1], lambda c: "unowned" in c)
            assert sorted(told["unowned"]) == ["campaigns", "ctl", "elt", "etl"]
            assert all(seconds >= 2.2 for seconds in told["unowned"].values())
            assert told["notified"] == 4
            ports = [free_port(), free_port()]
            replicas += [start_watch(world.repo, env, *args, "--listen", str(p)) for p in ports]
            for _, queue_ in replicas:
                for _ in range(3):
                    assert "unowned" not in next_cycle(queue_, lambda c: True)
            for _, queue_ in replicas[1:]:  # each scraped after one more cycle
                next_cycle(queue_, lambda c: c.get("status") == "ok")
            owned = [scrape(f"http://127.0.0.1:{port}") for port in ports]
        finally:
            for process, _ in replicas:
                stop_watch(process)
    finally:
        world.close()
    assert sorted((b["event"], b["instance"], b["spec"]) for b in receiver.bodies) == [
        ("shard_unowned", instance, None) for instance in ("campaigns", "ctl", "elt", "etl")
    ]
    assert all("no replica has worked on it for" in b["summary"] for b in receiver.bodies)
    for metrics in owned:  # an instance's owner says 1 for it, the others 0
        assert metrics[("reconciler_shards_unowned", ())] == 0
        shares = {
            dict(labels)["instance"]: value
            for (name, labels), value in metrics.items()
            if name == "reconciler_shard_owned"
        }
        assert sorted(shares) == ["campaigns", "ctl", "elt", "etl"]
        assert sum(shares.values()) == metrics[("reconciler_shards_owned", ())]
