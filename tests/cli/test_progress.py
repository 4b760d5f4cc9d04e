"""An apply's progress on a terminal: a live line while actions are under way, cleared before
the outcome is printed. The CLI runs under a pseudo-terminal, as a person would run it."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CONFIG, jobrun

SLOW_XPLENTY = "faults:\n  xplenty: {latency: 0.15}\n"


def run_in_terminal(args: list[str], cwd: Path) -> tuple[int, bytes]:
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env={**os.environ, "XPLENTY_API_KEY": "k", "NO_COLOR": "1"},
    )
    os.close(terminal)
    screen = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed: the process has ended
            break
        if not chunk:
            break
        screen += chunk
    os.close(controller)
    return process.wait(30), screen


@pytest.mark.timeout(120)
def test_a_long_apply_shows_a_live_line_then_clears_it(tmp_path: Path) -> None:
    (tmp_path / "reconciler.yaml").write_text(CONFIG)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "many.yaml").write_text(
        "---\n".join(jobrun(f"run-{n}", package=100 + n) for n in range(40))
    )
    (tmp_path / "seed.yaml").write_text(SLOW_XPLENTY)
    code, screen = run_in_terminal(
        ["--sandbox", "--sandbox-seed", "seed.yaml", "apply", "--auto-approve"], tmp_path
    )
    assert code == 0, screen.decode(errors="replace")
    assert b"\r\x1b[2KApplying: " in screen
    assert b" of 40 actions done (" in screen
    last_line = screen.rindex(b"Applying: ")
    cleared = screen.rindex(b"\r\x1b[2K")
    assert cleared > last_line  # the live line was wiped before the outcome
    after = screen[cleared:]
    assert b"Apply complete: 40 started" in after
    assert b"Applying" not in after


@pytest.mark.timeout(120)
def test_a_long_refresh_shows_its_calls_then_clears_the_line(tmp_path: Path) -> None:
    """Before the plan, while the providers are listed (here one call taking a second and a
    half): the calls so far, per instance, on a live line wiped before the plan is printed."""
    (tmp_path / "reconciler.yaml").write_text(CONFIG)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "one.yaml").write_text(jobrun("nightly"))
    (tmp_path / "seed.yaml").write_text("faults:\n  xplenty: {latency: 1.5}\n")
    code, screen = run_in_terminal(["--sandbox", "--sandbox-seed", "seed.yaml", "plan"], tmp_path)
    assert code == 0, screen.decode(errors="replace")
    assert b"\r\x1b[2KRefreshing: 1 API call (etl 1) [" in screen
    cleared = screen.rindex(b"\r\x1b[2K")
    assert cleared > screen.rindex(b"Refreshing: ")
    after = screen[cleared:]
    assert b"Plan: 1 to start." in after
    assert b"Refreshing" not in after


@pytest.mark.timeout(120)
def test_a_refresh_longer_than_ten_seconds_logs_a_heartbeat_when_not_on_a_terminal(
    tmp_path: Path,
) -> None:
    """In a CI log (stderr a pipe): no live line, one heartbeat line per 10 seconds."""
    (tmp_path / "reconciler.yaml").write_text(CONFIG)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "one.yaml").write_text(jobrun("nightly"))
    (tmp_path / "seed.yaml").write_text("faults:\n  xplenty: {latency: 10.5}\n")
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "--sandbox", "--sandbox-seed", "seed.yaml", "plan"],
        cwd=tmp_path,
        env={**os.environ, "XPLENTY_API_KEY": "k"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "Still refreshing: 1 API call (etl 1) [10s elapsed]\n"
    assert "Plan: 1 to start." in done.stdout
