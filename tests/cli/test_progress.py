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
