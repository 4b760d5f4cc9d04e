"""`watch` on a damaged journal (issue 12): each cycle logs the file, the line, what is wrong and
the documented way out; it does not crash and starts nothing; once the journal is set aside
(with the watch still running) the next cycle goes on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.sandbox.emulators import EMULATORS
from reconciler.sandbox.store import Store
from tests.cli.test_watch import next_cycle, start_watch, stop_watch
from tests.conftest import CONFIG, jobrun
from tests.state.test_damaged_journal import WAY_OUT


def started_runs(root: Path) -> int:
    """How many runs the watch's sandbox Xplenty holds: the starts, counted at the API."""
    store = Store(root / ".reconciler" / "sandbox.db")
    try:
        for emulator in EMULATORS:
            store.create_tables(emulator.tables)
        return len(store.query("SELECT id FROM xplenty_jobs"))
    finally:
        store.close()


@pytest.mark.timeout(120)
def test_watch_logs_a_damaged_journal_each_cycle_and_goes_on_once_it_is_set_aside(
    tmp_path: Path,
) -> None:
    (tmp_path / "reconciler.yaml").write_text(CONFIG)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text(jobrun("nightly"))
    journal = tmp_path / "reconciler.lock.journal"
    journal.write_text('{"op":"intent"}\n')
    process, lines = start_watch(tmp_path, {}, "--sandbox", "watch", "--interval", "0.2")
    try:
        for cycle in (1, 2, 3):
            logged = next_cycle(lines, lambda c, n=cycle: c["cycle"] == n)
            assert (logged["status"], logged["errors"]) == (
                "error",
                [
                    "reconciler.lock.journal:1: record: required key is missing",
                    WAY_OUT.removeprefix("Error: "),
                ],
            )
            assert "actions" not in logged
        assert process.poll() is None  # still running
        assert journal.read_text() == '{"op":"intent"}\n'
        assert not (tmp_path / "reconciler.lock").exists()
        assert started_runs(tmp_path) == 0

        # The way out the line names, taken while the watch runs.
        aside = subprocess.run(
            [
                sys.executable,
                "-m",
                "reconciler",
                "journal",
                "set-aside",
                "--yes",
                "--lock-timeout",
                "20",
            ],
            cwd=tmp_path,
            env={**os.environ, "XPLENTY_API_KEY": "k"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (aside.returncode, aside.stderr) == (0, ""), aside.stdout
        assert aside.stdout.splitlines()[1:] == [
            "Not replayed: line 1: record: required key is missing"
        ]
        recovered = next_cycle(lines, lambda c: c["status"] == "ok")
        assert recovered["actions"] == {"start": 1}
    finally:
        errors = stop_watch(process) if process.poll() is None else ""
    assert "Traceback" not in errors
    assert started_runs(tmp_path) == 1
    assert not journal.exists()
