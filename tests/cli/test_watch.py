"""`reconciler watch` against the sandbox, as a process: restart, timeout, failure, SIGTERM."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox.store import Store
from tests.conftest import CONFIG, jobrun


def read_lines(stream: Any, into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


def next_cycle(lines: queue.Queue[str], predicate: Any, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            cycle = json.loads(lines.get(timeout=1))
        except queue.Empty:
            continue
        if predicate(cycle):
            return dict(cycle)
    raise AssertionError("no such cycle")


def start_watch(
    cwd: Path, env: dict[str, str], *args: str
) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    """`reconciler ARGS` (a watch) as a process in ``cwd``, and its stdout's lines as they come."""
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        env={**os.environ, "XPLENTY_API_KEY": "k", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=read_lines, args=(process.stdout, lines), daemon=True).start()
    return process, lines


def stop_watch(process: subprocess.Popen[str]) -> str:
    """SIGTERM: it ends after its cycle, with exit code 0; its stderr."""
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    return err


@pytest.mark.timeout(120)
def test_watch_restarts_running_specs_stops_overdue_runs_and_exits_on_sigterm(
    tmp_path: Path,
) -> None:
    (tmp_path / "reconciler.yaml").write_text(CONFIG)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "keep.yaml").write_text(jobrun("keep-running", extra="state: running\n"))
    (tmp_path / "specs" / "slow.yaml").write_text(
        jobrun("slow", package=200, extra="timeout: 10s\n")
    )
    (tmp_path / "seed.yaml").write_text("xplenty:\n  runs:\n    packages: {200: {running: 1h}}\n")
    watcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler",
            "--sandbox",
            "--sandbox-seed",
            "seed.yaml",
            "watch",
            "--interval",
            "0.3",
        ],
        cwd=tmp_path,
        env={**os.environ, "XPLENTY_API_KEY": "k"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=read_lines, args=(watcher.stdout, lines), daemon=True).start()
    try:
        first = next_cycle(lines, lambda c: c["cycle"] == 1)
        assert (first["status"], first["actions"]) == ("ok", {"start": 2})
        next_cycle(lines, lambda c: c.get("actions") == {"in-progress": 2})

        store = Store(tmp_path / ".reconciler" / "sandbox.db")
        store.advance(60)  # keep-running's run (30s) has ended; slow's run is overdue
        store.close()
        acted = next_cycle(lines, lambda c: c.get("actions", {}).get("stop") == 1)
        assert acted["actions"] == {"start": 1, "stop": 1}
        lock = json.loads((tmp_path / "reconciler.lock").read_text())
        assert lock["runs"]["keep-running"]["attempt"] == 2
        assert lock["runs"]["slow"]["stop_reason"] == "timeout"

        good = (tmp_path / "specs" / "keep.yaml").read_text()
        (tmp_path / "specs" / "keep.yaml").write_text(good + "  bogus: 1\n")
        failed = next_cycle(lines, lambda c: c["status"] == "error")
        assert failed["errors"] == ["specs/keep.yaml:12:3: spec.bogus: unknown key"]
        (tmp_path / "specs" / "keep.yaml").write_text(good)
        next_cycle(lines, lambda c: c["status"] == "ok")  # the loop went on
    finally:
        watcher.send_signal(signal.SIGTERM)
        code = watcher.wait(20)
        assert watcher.stderr is not None
        assert watcher.stdout is not None
        errors = watcher.stderr.read()
        watcher.stderr.close()
        watcher.stdout.close()
    assert code == 0
    assert "Traceback" not in errors
